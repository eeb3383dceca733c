"""Import throughput (rows/s) on PostgreSQL (a script printing a table).

    .venv/bin/python benchmarks/import_throughput.py [--rows 50000]

On a scratch database (BENCH_IMPORT_DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432/reviewapp_bench_import, dropped and created) it writes JSONL
files and runs the import job's own work function (`requestlog.services.run_import` through
`jobs.services.run_job`, as the Celery task does, minus the broker hop) on:
plain rows, rows that each carry an MLflow trace (chunks and tokens extracted; the table prints
the trace bytes per row), the same file again (every row already present), and a file with 1 % bad
lines. Besides rows/s it prints the CPU milliseconds a row costs, this process (with the process a
JSONL import reads its file in) and its PostgreSQL backend together (when the server runs on this
machine), and how much of it each side spent: on a machine shared with other work the wall time
varies far more than that.

    --profile plain|trace   also prints where this process spends its time on that run (cProfile)
"""

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/reviewapp_bench_import"


def trace_for(i: int) -> dict:
    """An MLflow 3 trace dict with a chain span and a RETRIEVER span of four documents: about 3 KB
    of JSON (the size the import target is set for; the table prints it)."""
    from tests.requestlog.helpers import trace_dict

    docs = [(f"docs://{i}/{k}", f"Passage {i}-{k} of the handbook. " * 14) for k in range(4)]
    return trace_dict(f"Q{i}", f"A{i}", trace_id=f"tr-{uuid.UUID(int=i + 10**9).hex}", docs=docs)


def write_file(path: Path, rows: int, offset: int, with_trace: bool, bad_every: int = 0) -> int:
    """Write the rows; returns the bytes of trace JSON in all (0 without traces)."""
    trace_bytes = 0
    with open(path, "w") as out:
        for i in range(offset, offset + rows):
            if bad_every and i % bad_every == 0:
                out.write('{"request_id": "broken\n')
                continue
            row = {
                "request_id": str(uuid.UUID(int=i + 1)),
                "request": {"messages": [{"role": "user", "content": f"How do I do thing number {i}?"}]},
                "response": f"You do thing number {i} by opening Settings and pressing the button. " * 3,
                "timestamp": 1767225600 + i,
                "conversation_id": f"conv-{i // 4}",
            }
            if with_trace:
                row["trace"] = trace_for(i)
                trace_bytes += len(json.dumps(row["trace"]).encode())
            out.write(json.dumps(row) + "\n")
    return trace_bytes


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process, with its children (the process a JSONL import reads its file in),
    and of its PostgreSQL backend (when the server runs on this machine): what an import costs,
    which other work on a shared machine does not change as it does the wall time."""
    from django.db import connection

    connection.ensure_connection()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = time.process_time() + children.ru_utime + children.ru_stime
    try:
        with open(f"/proc/{connection.connection.info.backend_pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return client, float("nan")
    return client, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument(
        "--profile",
        choices=["plain", "trace"],
        help="profile this process on that run (not the process a JSONL import reads its file in)",
    )
    args = parser.parse_args()
    url = os.environ.get("BENCH_IMPORT_DATABASE_URL", DEFAULT_URL)

    from _scratch import python_step_ns, recreate_database
    from request_log_page import setup_django

    recreate_database(url)
    setup_django(url)

    from reviewapp.jobs.models import Job
    from reviewapp.jobs.services import run_job
    from reviewapp.requestlog.models import Request
    from reviewapp.requestlog.services import run_import
    from tests import factories

    app = factories.make_app("bench-import", name="Bench import")
    folder = Path(tempfile.mkdtemp(prefix="reviewapp-import-bench-"))
    n = args.rows
    runs = [
        ("plain rows", n, 0, False, 0),
        ("same file again (all present)", n, 0, False, 0),
        ("rows with an MLflow trace each", n, 10 * n, True, 0),
        ("plain rows, 1 % bad lines", n, 20 * n, False, 100),
    ]
    print(
        f"{'run':34}| {'rows':>8} | {'MB':>6} | {'trace B/row':>11} | {'seconds':>8} | {'rows/s':>8} | "
        f"{'CPU ms/row':>10} | {'client':>6} | {'server':>6} | imported / present / bad"
    )
    print("-" * 143)
    trace_bytes: dict[Path, int] = {}
    profiles = []
    for name, rows, offset, with_trace, bad_every in runs:
        path = folder / f"{offset}.jsonl"
        if not path.exists():
            trace_bytes[path] = write_file(path, rows, offset, with_trace, bad_every)
        size_mb = path.stat().st_size / 1e6
        # run_import deletes its input when done, as after an upload: give it a copy.
        work = folder / f"work-{uuid.uuid4().hex}.jsonl"
        work.write_bytes(path.read_bytes())
        job = Job.objects.create(kind="import_traces", app=app, params={"source": "jsonl", "path": str(work)})
        profiler = None
        if (
            args.profile
            and name == {"plain": "plain rows", "trace": "rows with an MLflow trace each"}[args.profile]
        ):
            import cProfile

            profiler = cProfile.Profile()
        started, (client, server) = time.perf_counter(), cpu_seconds()
        if profiler:
            profiler.enable()
        job = run_job(str(job.pk), run_import)
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
        client, server = (
            after - before for after, before in zip(cpu_seconds(), (client, server), strict=True)
        )
        assert job.status == "succeeded", job.error
        r = job.result
        per_row = f"{trace_bytes[path] / rows:11,.0f}" if trace_bytes[path] else f"{'-':>11}"
        print(
            f"{name:34}| {rows:8d} | {size_mb:6.1f} | {per_row} | {seconds:8.2f} | {rows / seconds:8.0f} | "
            f"{(client + server) * 1000 / rows:10.3f} | {client * 1000 / rows:6.3f} | "
            f"{server * 1000 / rows:6.3f} | {r['imported']} / {r['already_present']} / {r['bad_rows']}"
        )
        if profiler:
            profiles.append((name, profiler))
    print(f"\nrows in the table: {Request.objects.filter(app=app).count():,}")
    print(f"this machine: {python_step_ns():.0f} ns per plain-Python loop step (figures move with it)")
    for name, profiler in profiles:
        import pstats

        print(f"\nwhere this process spends its time on {name!r} (cProfile, slower than without it):")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(30)
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
