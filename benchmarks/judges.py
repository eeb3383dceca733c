"""LLM judge throughput: judgments per second against a zero-latency judge model (a script printing a table).

    .venv/bin/python benchmarks/judges.py [--requests 1000] [--workers 2]

Starts the judge model of the tests (tests/judges/judge_model.py: the OpenAI-compatible server of
tests/chains/openai_server.py answering "yes"/"no" by a fixed rule, at once) on a free loopback
port. On a scratch PostgreSQL database (BENCH_JUDGES_DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432/reviewapp_bench_judges, dropped and created) it seeds N
reviewed requests and an LLM judge (safety, through MLflow's judge code) calling that server, then
starts W real `celery -A reviewapp worker --pool=solo` processes (Redis when REDIS_URL is set, else
the filesystem broker in a temporary folder) and measures:

- live: N sampled turns (one `judges.judge_turn` message each, as after a logged turn), from the
  first message sent to the N-th result stored, spread over the W workers;
- run: one run over the N reviewed requests (a job: one worker, LLM_CALLS_AT_ONCE calls at a time),
  the job's own time.

What is measured is our side of a judgment (MLflow's prompt and call, the egress check, storing
the result), since the judge model answers at once.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _scratch import recreate_database  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/reviewapp_bench_judges"


def seed(n: int, server):
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from reviewapp.judges.services import create_judge
    from tests import factories
    from tests.judges import judge_model

    app = factories.make_app("bench-judges")
    manager = factories.make_user("manager@example.com")
    for i in range(n):
        request = factories.make_request(
            app,
            response=f"Answer {i}: rotate the token in Settings." if i % 4 else f"Answer {i} is wrong.",
            chunks=[{"position": 0, "doc_uri": "docs://a", "content": "Tokens rotate in Settings."}],
        )
        factories.make_assessment(request, manager, "positive")
    judge = create_judge(
        app=app,
        user=manager,
        name="safe",
        kind="llm",
        metric="safety",
        daily_cap=1_000_000,
        **judge_model.settings_of(server),
    )
    return app, manager, judge


def start_worker(env: dict) -> subprocess.Popen:
    celery = Path(sys.executable).with_name("celery")
    return subprocess.Popen(
        [str(celery), "-A", "reviewapp", "worker", "--pool=solo", "--loglevel=WARNING",
         "-n", f"bench-judges-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from tests.judges import judge_model

    scratch = tempfile.mkdtemp(prefix="reviewapp-bench-judges-")
    url = os.environ.get("BENCH_JUDGES_DATABASE_URL", DEFAULT_URL)
    recreate_database(url)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "reviewapp.settings",
            "DATABASE_URL": url,
            "VAR_DIR": scratch,
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-" + "x" * 50,
            "LOG_LEVEL": "WARNING",
            "CHAIN_URL_ALLOW": "127.0.0.1",  # the judge model listens on loopback
            judge_model.KEY_ENV: judge_model.KEY,
        }
    )
    if not os.environ.get("REDIS_URL"):
        os.environ["CELERY_FS_BROKER_DIR"] = f"{scratch}/broker"

    server = judge_model.start()
    workers = []
    try:
        started = time.monotonic()
        app, manager, judge = seed(args.requests, server)
        seeded = time.monotonic() - started
        from reviewapp.celery import ping
        from reviewapp.exports.selection import Filters
        from reviewapp.jobs.sending import send
        from reviewapp.judges import runs, services
        from reviewapp.judges.models import JudgeResult
        from reviewapp.judges.tasks import judge_turn_task
        from reviewapp.requestlog.models import Request
        from tests.requestlog.helpers import wait_for

        workers = [start_worker(dict(os.environ)) for _ in range(args.workers)]
        for _ in range(args.workers * 4):
            ping.delay("warm").get(timeout=120)  # every worker is up and has loaded Django

        ids = [str(pk) for pk in Request.objects.filter(app=app).values_list("pk", flat=True)]
        sent = time.monotonic()
        for request_id in ids:
            send(judge_turn_task, args=(judge.pk, request_id))
        deadline = sent + 600
        while JudgeResult.objects.filter(online=True).count() < len(ids) and time.monotonic() < deadline:
            time.sleep(0.05)
        live = time.monotonic() - sent
        live_done = JudgeResult.objects.filter(online=True).exclude(value="error").count()

        services.change_judge(judge=judge, user=manager, model=judge_model.MODEL + "-run")  # a version to run
        job = services.start_run(judge=judge, user=manager, filters=Filters())
        job = wait_for(job.pk, timeout=600, poll=0.05)
        if job.status != "succeeded":
            raise SystemExit(f"run failed: {job.error}")
        work = (job.finished_at - job.started_at).total_seconds()
        calls = len(server.requests)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        server.__exit__(None, None, None)

    print(
        f"\nLLM judge throughput: {args.requests} requests, judge model answering at once, seeded in {seeded:.0f} s"
    )
    print(f"{'how':<44} {'judged':>7} {'seconds':>8} {'judgments/s':>12}")
    print(
        f"{'live turns, ' + str(args.workers) + ' workers (solo pool)':<44} {live_done:>7} {live:>8.2f} {live_done / live:>12.1f}"
    )
    print(
        f"{'a run, one job, ' + str(runs.LLM_CALLS_AT_ONCE) + ' calls at a time':<44} "
        f"{job.result['judged']:>7} {work:>8.2f} {job.result['judged'] / work:>12.1f}"
    )
    print(f"calls the judge model answered: {calls}; errors: {job.result['errors']}")


if __name__ == "__main__":
    main()
