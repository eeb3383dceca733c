"""Evaluation-set export of 100,000 reviewed requests (a script printing a table).

    .venv/bin/python benchmarks/export.py [--rows 100000] [--mlflow-rows 0] [--reuse] [--no-pandas]

On a scratch PostgreSQL database (BENCH_EXPORT_DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432/reviewapp_bench_export, dropped and created; `--reuse` keeps
it when it already holds the N requests, for runs one after the other) it seeds N
requests with two chunks each, one review per request and a second reviewer on every fifth, with
COPY. Then it starts a real `celery -A reviewapp worker --pool=solo` process (Redis when REDIS_URL
is set, else the filesystem broker in a temporary folder), queues the export through
`services.start_evaluation_set_export` and measures the job's own time (started → finished),
the wall-clock time from queueing, and the worker process's peak RSS (VmHWM) — the export
streams rows over a server-side cursor, so memory must not grow with N.

Beside it, the floor any Python export of these rows stands on: `pandas.read_sql` of the very rows the
job reads (`selection.reviewed_rows`: effective assessments with their requests' columns) and
`DataFrame.to_json` of them as JSON lines, with no rule applied and one file written, in this process.
Target: <= 10 s and <= 300 MB RSS for 100,000 rows, and within 2x of that pandas figure.

`--mlflow-rows M` also times the MLflow step (run + artifacts + GenAI evaluation dataset) on a
separate export of M rows; `merge_records` writes each record to the tracking store, so it is
reported on its own rather than in the 100,000-row figure.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _scratch import recreate_database  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/reviewapp_bench_export"
SLUG = "bench-export"


def seed(rows: int) -> tuple:
    """Migrate, then COPY `rows` requests and their assessments in; returns (app, manager)."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from reviewapp.accounts.models import User
    from reviewapp.catalog.models import App, Grant, Level

    app = App.objects.create(slug=SLUG, name="Bench export")
    manager = User.objects.create_user("manager@example.com", "pw")
    second = User.objects.create_user("second@example.com", "pw")
    Grant.objects.create(app=app, user=manager, level=Level.CAN_MANAGE)
    start = datetime.now(UTC) - timedelta(days=30)
    request_ids = [uuid.UUID(int=i + 1) for i in range(rows)]
    raw = connection.connection
    with raw.cursor() as cursor:
        with cursor.copy(
            "COPY requestlog_request (request_id, app_id, app_version, conversation_id, source, created_at,"
            " messages, response, status, error, chunks, mlflow_trace_id, text_altered, documents) FROM STDIN"
        ) as copy:
            for i, rid in enumerate(request_ids):
                messages = [{"role": "user", "content": f"How do I do thing number {i}? " + "context " * 20}]
                chunks = [
                    {
                        "position": p,
                        "doc_uri": f"docs://{i}/{p}",
                        "content": f"Passage {i}-{p}. " + "text " * 60,
                    }
                    for p in range(2)
                ]
                copy.write_row(
                    (
                        rid,
                        app.pk,
                        "1",
                        f"conv-{i // 3}",
                        "review_app",
                        start + timedelta(seconds=i),
                        json.dumps(messages),
                        f"Answer number {i}. " + "words " * 40,
                        "ok",
                        "",
                        json.dumps(chunks),
                        "",
                        False,
                        len(chunks),
                    )
                )
        with cursor.copy(
            "COPY feedback_assessment (assessment_id, request_id, app_id, reviewer_id, source_id, created_at,"
            " rating, reasons, other_reason, comment, corrected_response, retrieval_assessments,"
            " missing_sources, app_version, instructions_version) FROM STDIN"
        ) as copy:
            for i, rid in enumerate(request_ids):
                positive = i % 3 != 0
                ratings = [{"position": 0, "doc_uri": f"docs://{i}/0", "rating": "relevant", "comment": ""}]
                reviewers = [(manager, positive)] + ([(second, not positive)] if i % 5 == 0 else [])
                for k, (user, is_positive) in enumerate(reviewers):
                    copy.write_row(
                        (
                            uuid.uuid4(),
                            rid,
                            app.pk,
                            user.pk,
                            user.email,
                            start + timedelta(seconds=i, milliseconds=k + 1),
                            "positive" if is_positive else "negative",
                            json.dumps([] if is_positive else ["inaccurate"]),
                            "",
                            "",
                            None if is_positive else f"Corrected answer {i}.",
                            json.dumps(ratings),
                            "[]",
                            "1",
                            1,
                        )
                    )
    raw.commit()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return app, manager


def existing(rows: int) -> tuple | None:
    """(app, manager) when the scratch database already holds this benchmark's `rows` requests."""
    from django.db import connection
    from django.db.utils import DatabaseError

    try:
        from reviewapp.accounts.models import User
        from reviewapp.catalog.models import App
        from reviewapp.requestlog.models import Request

        app = App.objects.filter(slug=SLUG).first()
        if app is None or Request.objects.filter(app=app).count() != rows:
            return None
        return app, User.objects.get(email="manager@example.com")
    except DatabaseError:
        connection.close()
        return None


def pandas_baseline(app, folder: Path) -> tuple[int, float, float]:
    """(rows, seconds, CPU seconds): pandas.read_sql of the rows the export reads, then to_json as
    JSON lines."""
    import pandas as pd
    from django.db import connection
    from sqlalchemy import create_engine

    from reviewapp.exports.selection import Filters, reviewed_rows

    sql, params = reviewed_rows(app=app, filters=Filters()).query.sql_with_params()
    settings = connection.settings_dict
    engine = create_engine(
        f"postgresql+psycopg://{settings['USER']}:{settings['PASSWORD']}@{settings['HOST']}:{settings['PORT']}"
        f"/{settings['NAME']}"
    )
    started, cpu = time.monotonic(), time.process_time()
    with engine.connect() as conn:
        frame = pd.read_sql(sql, conn, params=tuple(params))
    frame["request_id"] = frame["request_id"].astype(str)  # uuid.UUID objects: ujson cannot
    frame.to_json(folder / "pandas.jsonl", orient="records", lines=True, date_format="iso")
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    engine.dispose()
    return len(frame), seconds, cpu


def start_worker(env: dict) -> subprocess.Popen:
    celery = Path(sys.executable).with_name("celery")
    return subprocess.Popen(
        [str(celery), "-A", "reviewapp", "worker", "--pool=solo", "--loglevel=WARNING",
         "-n", f"bench-export-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) the process has used: under a shared machine's load, a steadier
    figure than the clock."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--mlflow-rows", type=int, default=0)
    parser.add_argument("--reuse", action="store_true", help="keep the scratch database if seeded")
    parser.add_argument("--no-pandas", action="store_true", help="leave the pandas baseline out")
    args = parser.parse_args()
    url = os.environ.get("BENCH_EXPORT_DATABASE_URL", DEFAULT_URL)
    scratch = tempfile.mkdtemp(prefix="reviewapp-bench-export-")
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="reviewapp.settings",
        VAR_DIR=scratch,
        EXPORT_DIR=f"{scratch}/exports",
        MLFLOW_TRACKING_URI=f"sqlite:///{scratch}/mlflow.db",
        MLFLOW_ARTIFACT_ROOT=f"{scratch}/mlartifacts",
        CELERY_FS_BROKER_DIR=f"{scratch}/broker",
    )
    import django

    django.setup()
    from reviewapp.exports import services
    from reviewapp.exports.models import EvaluationSetVersion
    from reviewapp.exports.selection import Filters
    from tests.requestlog.helpers import wait_for

    started = time.monotonic()
    found = existing(args.rows) if args.reuse else None
    if found:
        app, manager = found
        seeded = f"reused {args.rows:,} seeded requests"
    else:
        recreate_database(url)
        app, manager = seed(args.rows)
        seeded = f"seeded {args.rows:,} requests (+ assessments) in {time.monotonic() - started:.1f} s"

    worker = start_worker(dict(os.environ))
    results = []
    try:
        time.sleep(1)
        from reviewapp.celery import ping

        ping.delay("warm").get(timeout=120)  # the worker is up and has loaded Django
        idle_rss = memory_mb(worker.pid, "VmRSS")
        idle_cpu = cpu_seconds(worker.pid)
        queued = time.monotonic()
        job = services.start_evaluation_set_export(app=app, user=manager, name="bench", filters=Filters())
        # A fine poll: the wall-clock figure includes the wait's last sleep.
        job = wait_for(job.pk, timeout=600, poll=0.05)
        wall = time.monotonic() - queued
        peak = memory_mb(worker.pid, "VmHWM")  # read at once, before the MLflow step gets going
        cpu = cpu_seconds(worker.pid) - idle_cpu
        if job.status != "succeeded":
            raise SystemExit(f"export failed: {job.error}")
        version = EvaluationSetVersion.objects.get(job=job)
        size = sum(v.get("bytes", 0) for v in version.files.values())
        work = (job.finished_at - job.started_at).total_seconds()
        results.append(
            ("evaluation set export", args.rows, version.row_count, work, wall, cpu, idle_rss, peak, size)
        )
    finally:
        worker.send_signal(signal.SIGKILL)  # the MLflow step of this export is not measured here
        worker.wait()

    if args.mlflow_rows:
        worker = start_worker(dict(os.environ))
        try:
            ping.delay("warm").get(timeout=120)
            ids = [str(uuid.UUID(int=i + 1)) for i in range(args.mlflow_rows)]
            job = services.start_evaluation_set_export(
                app=app, user=manager, name="bench-mlflow", filters=Filters(request_ids=tuple(ids))
            )
            job = wait_for(job.pk, timeout=600, poll=0.05)
            version = EvaluationSetVersion.objects.get(job=job)
            t0 = time.monotonic()
            while True:
                version.refresh_from_db()
                if version.mlflow_status != "pending" or time.monotonic() - t0 > 3600:
                    break
                time.sleep(0.5)
            results.append(
                (f"MLflow step ({version.mlflow_status})", args.mlflow_rows, version.row_count,
                 time.monotonic() - t0, time.monotonic() - t0, float("nan"), float("nan"),
                 memory_mb(worker.pid, "VmHWM"), 0)
            )  # fmt: skip
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait()

    if not args.no_pandas:  # after the worker is gone, so that the two never share the machine
        rows, seconds, cpu = pandas_baseline(app, Path(scratch))
        results.append(("pandas read_sql + to_json", args.rows, rows, seconds, seconds, cpu, *[float("nan")] * 2,
                        (Path(scratch) / "pandas.jsonl").stat().st_size))  # fmt: skip

    print(f"{seeded} on {urlparse(url).path[1:]}")
    header = f"{'step':<26} {'selected':>9} {'rows':>8} {'job s':>7} {'wall s':>7} {'cpu s':>6}"
    print(header + f" {'idle MB':>8} {'peak MB':>8} {'growth MB':>9} {'files MB':>9}")
    for name, selected, rows, work, wall, cpu, idle, peak, size in results:
        print(
            f"{name:<26} {selected:>9,} {rows:>8,} {work:>7.2f} {wall:>7.2f} {cpu:>6.2f}"
            f" {idle:>8.0f} {peak:>8.0f} {peak - idle:>9.0f} {size / 1e6:>9.1f}"
        )
    print("cpu s: the worker's CPU time for the job (pandas: this process's); the database's is in neither")
    print("idle MB: the worker before the job (Django, Celery and every tasks module it imports)")
    if not args.no_pandas:
        print(f"export job / pandas: {results[0][3] / results[-1][3]:.2f}x")
    print("target: <= 10 s and <= 300 MB peak RSS in the worker for 100,000 rows, within 2x of pandas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
