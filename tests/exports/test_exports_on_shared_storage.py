"""Exports on a shared S3-compatible bucket (moto's server on loopback), as with S3_BUCKET set.

A worker on "another machine" (its own process, its own EXPORT_DIR and MEDIA_ROOT) builds and
publishes them; this process, the web, serves them from the bucket, and MLflow logs them from it.
"""

import json
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from reviewapp.celery import app as celery_app
from reviewapp.exports import services
from reviewapp.exports.evaluation_sets import export_evaluation_set
from reviewapp.exports.models import EvaluationSetVersion, JudgeExport, MlflowStatus
from reviewapp.exports.selection import Filters
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
from reviewapp.lib.files import file_storages
from tests import processes
from tests.exports.helpers import relevant, reviewed

URL = "/api/v1/apps/support-bot"


@pytest.fixture
def bucket(tmp_path, settings, monkeypatch):
    """A bucket this process reads and writes exports and uploads in, as the settings make it."""
    with processes.S3Server(tmp_path / "s3") as server:
        server.use_here(settings, monkeypatch)
        yield server


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def finished(client, job_id: str) -> dict:
    def done():
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed") else None

    return processes.wait_until(done, f"job {job_id} to finish", timeout=120)


def download(client, url: str) -> tuple[int, bytes, str | None]:
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.status_code == 200 else b""
    return response.status_code, body, response.headers.get("Content-Length")


def local_files_of(folder: Path, job_id: str) -> list[Path]:
    return [p for p in Path(folder).rglob("*") if job_id in str(p)]


@pytest.mark.worker
def test_a_worker_on_another_machine_publishes_to_the_bucket_and_the_web_serves_from_it(
    transactional_db, app, manager, viewer, outsider, as_user, bucket, tmp_path
):
    golden_request = reviewed(app, manager, "positive", retrieval_assessments=relevant(0))
    reviewed(app, manager, "negative", question="Other?", corrected_response="Fixed answer.")
    reviewed(app, manager, "positive", question="Third?")
    machine = tmp_path / "worker-machine"
    env = processes.test_env(
        **bucket.env(), EXPORT_DIR=str(machine / "exports"), MEDIA_ROOT=str(machine / "media")
    )
    args = processes.celery_args("worker", "--pool=solo", "-n", f"s3-{uuid.uuid4().hex[:6]}@%h")
    celery_app.control.purge()
    client = as_user(manager)
    with processes.process([*args, "--without-gossip", "--without-mingle"], env, tmp_path / "worker.log"):
        started = post(
            client,
            f"{URL}/evaluation-sets",
            {"name": "golden", "request_ids": [str(golden_request.pk)], "include_outputs": True},
        )
        assert started.status_code == 202, started.content
        job_id = str(started.json()["job_id"])
        job = finished(client, job_id)
        assert job["status"] == "succeeded", f"{job['error']}\n{processes.tail(tmp_path / 'worker.log')}"

        version = EvaluationSetVersion.objects.get(job_id=job_id)
        # The folder of the attempt that published it (the first).
        assert version.relative_dir == f"evaluation-sets/support-bot/golden/{job_id}-1"
        folder = f"reviewapp/exports/{version.relative_dir}"
        assert bucket.keys(folder) == sorted(f"{folder}/{name}" for name in version.files)
        # Neither machine keeps a copy: the worker's build folder is gone, the web never had one.
        assert local_files_of(machine, job_id) == []
        assert local_files_of(django_settings.EXPORT_DIR, job_id) == []

        files = client.get(f"{URL}/evaluation-sets/golden/versions/1").json()["files"]
        status, body, length = download(client, files["evaluation_set.jsonl"])
        assert status == 200 and body == bucket.read(f"{folder}/evaluation_set.jsonl")
        assert int(length) == len(body) == version.files["evaluation_set.jsonl"]["bytes"]
        [row] = [json.loads(line) for line in body.decode().splitlines()]
        assert row["request_id"] == str(golden_request.pk) and "retrieved_context" in row
        page_url = "/apps/support-bot/exports/sets/golden/v1/files/manifest.json"
        status, body, _ = download(client, page_url)
        assert status == 200 and json.loads(body)["request_ids"] == [str(golden_request.pk)]
        # The same permission checks as on a folder.
        assert as_user(viewer).get(files["evaluation_set.csv"]).status_code == 403
        assert as_user(outsider).get(files["evaluation_set.csv"]).status_code == 404
        assert as_user(outsider).get(page_url).status_code == 404
        assert client.get(f"{URL}/evaluation-sets/golden/versions/1/files/other.csv").status_code == 404

        # The worker's MLflow step logged the files it read from the bucket.
        version = processes.wait_until(
            lambda: EvaluationSetVersion.objects.filter(
                pk=version.pk, mlflow_status__in=["done", "failed"]
            ).first(),
            "the MLflow step",
            timeout=120,
        )
        assert version.mlflow_status == MlflowStatus.DONE, version.mlflow_error
        from reviewapp.chains.mlflow_setup import configure

        mlflow = configure()
        logged = mlflow.MlflowClient().list_artifacts(version.mlflow_run_id, "evaluation_set")
        assert sorted(Path(a.path).name for a in logged) == sorted(version.files)
        run = mlflow.get_run(version.mlflow_run_id)
        [dataset] = run.inputs.dataset_inputs
        assert json.loads(dataset.dataset.source) == {
            "uri": f"s3://{bucket.bucket}/{folder}/evaluation_set.parquet"
        }

        # A judge export holds out the set, reading its manifest from the bucket.
        started = post(
            client,
            f"{URL}/judge-examples",
            {"holdout_set": "golden", "holdout_by": "request", "rule": "latest"},
        )
        assert started.status_code == 202, started.content
        job = finished(client, str(started.json()["job_id"]))
        assert job["status"] == "succeeded", job["error"]
        export = JudgeExport.objects.get(pk=job["result"]["judge_export_id"])
        assert export.manifest["held_out"] == 1
        assert str(golden_request.pk) not in {r["request_id"] for r in export.examples()}
        export = processes.wait_until(
            lambda: JudgeExport.objects.filter(pk=export.pk, mlflow_status__in=["done", "failed"]).first(),
            "the judge export's MLflow step",
            timeout=120,
        )
        assert export.mlflow_status == MlflowStatus.DONE, export.mlflow_error
        judge_folder = f"reviewapp/exports/{export.relative_dir}"
        assert f"{judge_folder}/trace_ids.json" in bucket.keys(judge_folder)
        status, body, _ = download(client, f"{URL}/judge-examples/{export.pk}/files/trace_ids.json")
        assert status == 200 and json.loads(body) == export.trace_ids != []


def test_a_retry_clears_what_a_killed_attempt_left_in_the_bucket_and_only_then_a_version_appears(
    app, manager, as_user, bucket
):
    reviewed(app, manager, "positive")
    reviewed(app, manager, "negative", question="Other?", corrected_response="Fixed answer.")
    job = services.start_evaluation_set_export(app=app, user=manager, name="golden", filters=Filters())
    # An attempt that claimed the job and was killed while uploading: half a file and one the
    # retry does not write, in its own folder (and in the one all attempts shared before).
    assert job.claim()
    Job.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    base = "reviewapp/exports/evaluation-sets/support-bot/golden"
    client = bucket.client()
    for folder in (f"{base}/{job.id}-1", f"{base}/{job.id}"):
        client.put_object(
            Bucket=bucket.bucket, Key=f"{folder}/evaluation_set.jsonl", Body=b'{"request_id": "h'
        )
        client.put_object(Bucket=bucket.bucket, Key=f"{folder}/stale.csv", Body=b"a,b\n")
    web = as_user(manager)
    assert web.get(f"{URL}/evaluation-sets/golden/versions/1").status_code == 404  # no row, no version

    job = run_job(str(job.id), export_evaluation_set)
    assert (job.status, job.attempts) == (Job.Status.SUCCEEDED, 2), job.error
    version = EvaluationSetVersion.objects.get(job=job)
    assert version.relative_dir == f"evaluation-sets/support-bot/golden/{job.id}-2"
    assert bucket.keys(base) == sorted(f"{base}/{job.id}-2/{name}" for name in version.files)
    status, body, _ = download(web, f"{URL}/evaluation-sets/golden/versions/1/files/evaluation_set.jsonl")
    assert status == 200 and len(body.decode().splitlines()) == version.row_count == 2
    assert not list((Path(django_settings.EXPORT_DIR) / ".tmp").glob(f"{job.id}-*"))


# One attempt of a job, as a worker runs it: run_job(job id) in a process of its own.
ONE_ATTEMPT = """
import sys
import django

django.setup()
from reviewapp.exports.evaluation_sets import export_evaluation_set
from reviewapp.jobs.leases import LeaseLost
from reviewapp.jobs.services import run_job

try:
    job = run_job(sys.argv[1], export_evaluation_set)
except LeaseLost as lost:
    print("lease lost:", lost)
else:
    print("finished:", job.status, job.error)
"""


@pytest.mark.timeout(300)
def test_an_attempt_taken_over_while_it_uploads_leaves_the_published_version_alone(
    transactional_db, app, manager, as_user, bucket, tmp_path
):
    reviewed(app, manager, "positive")
    reviewed(app, manager, "negative", question="Other?", corrected_response="Fixed answer.")
    job = services.start_evaluation_set_export(app=app, user=manager, name="golden", filters=Filters())
    folder = "reviewapp/exports/evaluation-sets/support-bot/golden/"
    log = tmp_path / "first.log"
    with processes.TcpProxy("127.0.0.1", bucket.port) as proxy:
        # The first attempt reaches the bucket through a network that stalls; its lease is long
        # enough that only the takeover below ends it.
        proxy.hold()
        env = processes.test_env(
            **{**bucket.env(), "S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"},
            JOB_LEASE_SECONDS="300",
            EXPORT_DIR=str(tmp_path / "first-machine" / "exports"),
        )
        with processes.process([sys.executable, "-c", ONE_ATTEMPT, str(job.id)], env, log) as first:
            # Its files are written and every check it makes before publishing has passed: it is
            # talking to the bucket, and stuck there.
            processes.wait_until(lambda: proxy.held, "the first attempt to reach the bucket", timeout=120)
            assert Job.objects.get(pk=job.pk).attempts == 1, processes.tail(log)
            # Stuck past its lease (as a process paused that long): a second attempt takes the job
            # over and publishes a newer snapshot.
            reviewed(app, manager, "positive", question="Third?")
            Job.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
            second = run_job(str(job.id), export_evaluation_set)
            assert (second.status, second.attempts) == (Job.Status.SUCCEEDED, 2), second.error
            version = EvaluationSetVersion.objects.get(job=job)
            published = {key: bucket.read(key) for key in bucket.keys(folder)}
            assert sorted(published) == sorted(
                f"reviewapp/exports/{version.relative_dir}/{n}" for n in version.files
            )

            # The first attempt goes on: whatever it stores, it must not touch the published version.
            proxy.release()
            first.wait(120)
    assert first.returncode == 0 and "lease lost" in processes.tail(log), processes.tail(log)
    # The published files, byte for byte; what the first attempt uploaded, it removed on learning
    # it had lost the job.
    assert {key: bucket.read(key) for key in bucket.keys(folder)} == published
    status, body, _ = download(
        as_user(manager), f"{URL}/evaluation-sets/golden/versions/1/files/evaluation_set.jsonl"
    )
    assert status == 200 and len(body.decode().splitlines()) == version.row_count == 3
    assert EvaluationSetVersion.objects.get().pk == version.pk


def test_a_download_while_the_bucket_cannot_be_reached_answers_503_with_retry_after(
    app, manager, as_user, bucket
):
    reviewed(app, manager, "positive")
    job = services.start_evaluation_set_export(app=app, user=manager, name="golden", filters=Filters())
    assert run_job(str(job.id), export_evaluation_set).status == Job.Status.SUCCEEDED
    client = as_user(manager)
    bucket.stop()

    began = time.monotonic()
    api = client.get(f"{URL}/evaluation-sets/golden/versions/1/files/evaluation_set.jsonl")
    assert time.monotonic() - began < 15
    assert api.status_code == 503 and api["Retry-After"] == "30"
    assert api.json()["code"] == "storage_unavailable" and "cannot be reached" in api.json()["detail"]
    page = client.get("/apps/support-bot/exports/sets/golden/v1/files/evaluation_set.csv")
    assert page.status_code == 503 and b"file store cannot be reached" in page.content
    # A name the version does not have is still a 404: the store is not asked.
    assert client.get(f"{URL}/evaluation-sets/golden/versions/1/files/other.csv").status_code == 404


def test_a_download_over_a_connection_the_store_drops_answers_503_not_500(
    app, manager, as_user, tmp_path, settings, monkeypatch
):
    with processes.S3Server(tmp_path / "s3") as server, processes.TcpProxy("127.0.0.1", server.port) as proxy:
        server.use_here(settings, monkeypatch)
        monkeypatch.setenv("S3_ENDPOINT_URL", f"http://127.0.0.1:{proxy.port}")
        settings.STORAGES = {
            **settings.STORAGES,
            **file_storages(django_settings.EXPORT_DIR, django_settings.MEDIA_ROOT),
        }
        reviewed(app, manager, "positive")
        job = services.start_evaluation_set_export(app=app, user=manager, name="golden", filters=Filters())
        assert run_job(str(job.id), export_evaluation_set).status == Job.Status.SUCCEEDED
        client = as_user(manager)
        url = f"{URL}/evaluation-sets/golden/versions/1/files/evaluation_set.jsonl"
        assert client.get(url).status_code == 200
        # The proxy still takes each connection, then closes it unanswered (botocore's
        # ConnectionClosedError, not a refused connection).
        server.stop()

        api = client.get(url)
        assert api.status_code == 503 and api["Retry-After"] == "30"
        assert api.json()["code"] == "storage_unavailable"
        page = client.get("/apps/support-bot/exports/sets/golden/v1/files/evaluation_set.csv")
        assert page.status_code == 503 and b"file store cannot be reached" in page.content


def test_a_jsonl_file_is_read_a_line_at_a_time_across_chunks(bucket):
    from django.core.files.base import ContentFile

    from reviewapp.exports.writers import export_storage
    from reviewapp.lib import files

    # Lines longer than the chunks the file is read in (64 KiB), and an empty line.
    rows = [{"n": n, "text": "é" * 50_000 * n} for n in range(4)]
    body = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).replace("\n", "\n\n", 1) + "\n"
    files.save(export_storage(), "judge-examples/x/examples.jsonl", ContentFile(body.encode()))
    assert list(files.jsonl_rows(export_storage(), "judge-examples/x/examples.jsonl")) == rows
