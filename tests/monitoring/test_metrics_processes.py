"""/metrics across real processes: gunicorn with two workers and a Celery worker, on the test
database (PostgreSQL with jobs on a Redis of the test's own, or the embedded default's SQLite and
filesystem broker), all counting into one METRICS_DIR of the test's own; and `manage.py serve`.

What one worker counted, any worker's /metrics answers, added up with the others', a killed
worker's counts included; a restarted server starts from zero and leaves a running Celery
worker's folder alone. With the database down, or a METRICS_DIR that cannot be made, the site
and /metrics still answer.
"""

import contextlib
import os
import signal
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.conf import settings
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from reviewapp.accounts.models import ApiToken
from reviewapp.catalog.models import Level
from reviewapp.jobs.models import Job
from reviewapp.monitoring import metrics
from tests import factories, processes
from tests.foundation.helpers import embedded_env, import_row, migrated_with_api_user, serving, start_import
from tests.processes import (
    OwnRedis,
    celery_args,
    free_port,
    process,
    tail,
    wait_listening,
    wait_until,
    web_args,
)

TOKEN = "metrics-token-" + "p" * 30
ROUTE = "api/v1/apps/<slug:slug>"
IMPORT_ROUTE = "api/v1/apps/<slug:slug>/traces:import"


@contextlib.contextmanager
def stack_env(folder: Path):
    """The test database, METRICS_DIR and METRICS_TOKEN of the test's own, and a broker of its own:
    a Redis beside PostgreSQL, the filesystem broker beside the embedded default's SQLite."""
    own = {
        "METRICS_DIR": str(folder / "metrics"),
        "METRICS_TOKEN": TOKEN,
        # No warm-up: it would register the demo chain in the run's MLflow store meanwhile.
        "CHAIN_WARMUP": "false",
    }
    if settings.REDIS_URL:
        with OwnRedis(folder / "redis") as redis:
            yield processes.test_env(REDIS_URL=redis.url, **own)
    else:
        yield processes.test_env(REDIS_URL=None, CELERY_FS_BROKER_DIR=str(folder / "broker"), **own)


def scrape(base: str) -> dict:
    """The samples of /metrics, added up over the `server` label of the processes' counts."""
    response = requests.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}", "Connection": "close"}, timeout=60
    )
    assert response.status_code == 200, response.text[:2000]
    samples: dict = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if k != "server"}
            key = (sample.name, frozenset(labels.items()))
            samples[key] = samples.get(key, 0.0) + sample.value
    return samples


def servers(base: str) -> set[str]:
    response = requests.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}", "Connection": "close"}, timeout=60
    )
    return {
        sample.labels["server"]
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if "server" in sample.labels
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def served(samples: dict) -> float:
    return value(samples, "reviewapp_http_requests_total", route=ROUTE, method="GET", status="200")


def server_folder(metrics_dir: Path, pid: int) -> Path:
    return metrics_dir / f"{metrics._host()}-{pid}"


def per_process(folder: Path) -> dict[int, float]:
    """Requests to ROUTE counted by each process of a server, read from its own file."""
    counts = {}
    for path in folder.glob("counter_*.db"):
        pid = int(path.stem.removeprefix("counter_"))
        for family in MultiProcessCollector.merge([str(path)]):
            for sample in family.samples:
                if sample.name == "reviewapp_http_requests_total" and sample.labels.get("route") == ROUTE:
                    counts[pid] = counts.get(pid, 0) + sample.value
    return counts


def send(base: str, slug: str, token: str, count: int) -> None:
    """`count` GETs of the app, eight at a time, each on a connection of its own (so either worker
    may take it)."""

    def one(_):
        response = requests.get(
            f"{base}/api/v1/apps/{slug}",
            headers={"Authorization": f"Bearer {token}", "Connection": "close"},
            timeout=60,
        )
        assert response.status_code == 200, response.text[:500]

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


@pytest.fixture
def api_user(transactional_db):
    user = factories.make_user("manager@example.com")
    app = factories.make_app("bot")
    factories.grant(app, user, Level.CAN_MANAGE)
    _token, raw = ApiToken.issue(user=user, name="metrics test")
    return app, raw


@pytest.mark.worker
def test_two_gunicorn_workers_add_up_a_killed_one_s_counts_included(api_user, tmp_path):
    app, token = api_user
    port, log = free_port(), tmp_path / "web.log"
    base = f"http://127.0.0.1:{port}"
    with stack_env(tmp_path) as env, process(web_args(port, workers=2), env, log) as web:
        wait_listening(port, web, log)
        folder = server_folder(Path(env["METRICS_DIR"]), web.pid)
        sent = 0
        # Until both workers have answered some: the kernel hands connections to either.
        while len([n for n in per_process(folder).values() if n]) < 2:
            assert sent < 2000, f"one worker took every request: {per_process(folder)}\n{tail(log)}"
            send(base, app.slug, token, 100)
            sent += 100
        counts = per_process(folder)

        assert sum(counts.values()) == sent
        # Whichever worker answers the scrape, it adds up every worker's counts, under the server's name.
        assert servers(base) == {folder.name}
        for _ in range(4):
            samples = scrape(base)
            assert served(samples) == sent, (counts, tail(log))
            assert (
                value(samples, "reviewapp_http_request_duration_seconds_count", route=ROUTE, method="GET")
                == sent
            )

        killed = max(counts, key=counts.get)
        os.kill(killed, signal.SIGKILL)
        wait_until(lambda: f"Worker (pid:{killed}) was sent SIGKILL" in log.read_text(), "gunicorn to notice")
        send(base, app.slug, token, 50)
        after = scrape(base)

        assert served(after) == sent + 50, (per_process(folder), tail(log))
        assert per_process(folder)[killed] == counts[killed]  # its file stays, so the counter never goes down


@pytest.mark.worker
def test_a_restarted_server_starts_from_zero_and_a_celery_worker_s_job_shows(api_user, tmp_path):
    app, token = api_user
    with stack_env(tmp_path) as env:
        metrics_dir = Path(env["METRICS_DIR"])
        worker_log = tmp_path / "worker.log"
        worker_args = celery_args(
            "worker",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
            f"--hostname=m-{uuid.uuid4().hex[:6]}@%h",
        )
        with process(worker_args, env, worker_log) as worker:
            wait_until(lambda: " ready." in worker_log.read_text(), "the Celery worker", timeout=120)
            worker_folder = server_folder(metrics_dir, worker.pid)
            assert worker_folder.is_dir(), sorted(p.name for p in metrics_dir.iterdir())

            port, first_log = free_port(), tmp_path / "web-1.log"
            base = f"http://127.0.0.1:{port}"
            with process(web_args(port, workers=2), env, first_log) as web:
                wait_listening(port, web, first_log)
                send(base, app.slug, token, 5)
                assert served(scrape(base)) == 5
                first_folder = server_folder(metrics_dir, web.pid)
            assert first_folder.is_dir()  # a stopped server's counts stay until the next one starts

            port, second_log = free_port(), tmp_path / "web-2.log"
            base = f"http://127.0.0.1:{port}"
            with process(web_args(port, workers=2), env, second_log) as web:
                wait_listening(port, web, second_log)
                assert served(scrape(base)) == 0
                assert not first_folder.exists()
                assert worker_folder.is_dir()  # a running worker's folder is not the server's to remove

                response = requests.post(
                    f"{base}/api/v1/apps/{app.slug}/traces:import",
                    json={"rows": [import_row(i) for i in range(3)]},
                    headers={"Authorization": f"Bearer {token}", "Connection": "close"},
                    timeout=60,
                )
                assert response.status_code == 202, response.text[:2000]
                job = Job.objects.get(pk=response.json()["job_id"])

                def finished():
                    assert worker.poll() is None, tail(worker_log)
                    job.refresh_from_db()
                    return job.is_finished

                wait_until(finished, "the worker to run the import", timeout=120)

                # The database's gauges are read at most every 30 s a process: wait for a fresh reading.
                def job_shows():
                    found = scrape(base)
                    return value(found, "reviewapp_jobs", kind=job.kind, state="succeeded") == 1 and found

                samples = wait_until(job_shows, "the job's gauge", timeout=90)

            assert job.status == Job.Status.SUCCEEDED, job.error
            jobs = {
                state: value(samples, "reviewapp_jobs", kind=job.kind, state=state)
                for state in Job.Status.values
            }
            assert jobs == {"queued": 0, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 0}
            assert (
                value(
                    samples, "reviewapp_http_requests_total", route=IMPORT_ROUTE, method="POST", status="202"
                )
                == 1
            )


@pytest.mark.worker
def test_serve_s_web_and_worker_count_into_one_metrics_dir(tmp_path):
    var = tmp_path / "var"
    env = embedded_env(var, METRICS_TOKEN=TOKEN, CHAIN_WARMUP="false")
    token = migrated_with_api_user(env)
    port, log = free_port(), tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with serving(env, port, log=log) as (_serve, banner):
        assert "Stop with Ctrl-C" in banner, banner
        session = requests.Session()
        job = start_import(session, port, token, [import_row(i) for i in range(2)])

        def succeeded():
            samples = scrape(base)
            return value(samples, "reviewapp_jobs", kind="import_traces", state="succeeded") == 1 and samples

        samples = wait_until(succeeded, f"job {job['job_id']} to succeed", timeout=120)
        folders = sorted(p.name for p in (var / "metrics").iterdir())

    assert (
        value(samples, "reviewapp_http_requests_total", route=IMPORT_ROUTE, method="POST", status="202") == 1
    )
    assert value(samples, "reviewapp_jobs", kind="import_traces", state="queued") == 0
    # serve's gunicorn and its Celery worker: a folder each, neither removed by the other's start.
    assert len(folders) == 2, (folders, tail(log))


@pytest.mark.worker
def test_with_the_database_down_metrics_still_serves_the_processes_counts(api_user, tmp_path):
    from django.db import connection

    from tests.front.test_database_down import PostgresCut, SqliteCut

    app, token = api_user
    cut = PostgresCut() if connection.vendor == "postgresql" else SqliteCut(tmp_path)
    port, log = free_port(), tmp_path / "web.log"
    base = f"http://127.0.0.1:{port}"
    with cut, stack_env(tmp_path) as env:
        env["DATABASE_URL"] = cut.url
        with process(web_args(port, workers=1), env, log) as web:
            wait_listening(port, web, log)
            send(base, app.slug, token, 3)
            cut.cut()
            down = scrape(base)
            cut.restore()
            back = scrape(base)

    pending = ("reviewapp_mlflow_writeback_backlog", frozenset({("state", "pending")}))
    assert served(down) == 3, tail(log)
    assert pending not in down  # the database's gauges are left out, the processes' counts served
    assert pending in back
    assert "the database did not answer; its gauges are left out" in log.read_text()


@pytest.mark.worker
def test_a_metrics_dir_that_cannot_be_made_leaves_the_site_serving(api_user, tmp_path):
    app, token = api_user
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where METRICS_DIR should be")
    port, log = free_port(), tmp_path / "web.log"
    base = f"http://127.0.0.1:{port}"
    with stack_env(tmp_path) as env:
        env["METRICS_DIR"] = str(blocked)
        with process(web_args(port, workers=1), env, log) as web:
            wait_listening(port, web, log)
            send(base, app.slug, token, 3)
            samples = scrape(base)

    assert served(samples) == 0  # nothing could be counted
    assert ("reviewapp_mlflow_writeback_backlog", frozenset({("state", "pending")})) in samples
    said = log.read_text()
    assert "cannot be made; this server's counts are not kept" in said
    assert "could not count count_request" in said
    assert said.count("could not count count_request") == 1  # once a minute, not once a request
