"""Exports on a shared S3-compatible bucket (moto's server on loopback), as with S3_BUCKET set.

A worker on "another machine" (its own process, its own EXPORT_DIR and MEDIA_ROOT) builds and
publishes them; this process, the web, serves them from the bucket, and MLflow logs them from it.
"""

import json
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from reviewapp.celery import app as celery_app
from reviewapp.exports import services
from reviewapp.exports.evaluation_sets import export_evaluation_set
from reviewapp.exports.models import EvaluationSetVersion, JudgeExport, MlflowStatus
from reviewapp.exports.selection import Filters
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
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
        folder = f"reviewapp/exports/evaluation-sets/support-bot/golden/{job_id}"
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
        judge_folder = f"reviewapp/exports/judge-examples/support-bot/{export.job_id}"
        assert f"{judge_folder}/trace_ids.json" in bucket.keys(judge_folder)
        status, body, _ = download(client, f"{URL}/judge-examples/{export.pk}/files/trace_ids.json")
        assert status == 200 and json.loads(body) == export.trace_ids != []


def test_a_retry_replaces_what_a_killed_attempt_left_in_the_bucket_and_only_then_a_version_appears(
    app, manager, as_user, bucket
):
    reviewed(app, manager, "positive")
    reviewed(app, manager, "negative", question="Other?", corrected_response="Fixed answer.")
    job = services.start_evaluation_set_export(app=app, user=manager, name="golden", filters=Filters())
    folder = f"reviewapp/exports/evaluation-sets/support-bot/golden/{job.id}"
    # An attempt killed while uploading: half a file, and one this attempt does not write.
    client = bucket.client()
    client.put_object(Bucket=bucket.bucket, Key=f"{folder}/evaluation_set.jsonl", Body=b'{"request_id": "hal')
    client.put_object(Bucket=bucket.bucket, Key=f"{folder}/stale.csv", Body=b"a,b\n")
    web = as_user(manager)
    assert web.get(f"{URL}/evaluation-sets/golden/versions/1").status_code == 404  # no row, no version

    job = run_job(str(job.id), export_evaluation_set)
    assert job.status == Job.Status.SUCCEEDED, job.error
    version = EvaluationSetVersion.objects.get(job=job)
    assert bucket.keys(folder) == sorted(f"{folder}/{name}" for name in version.files)
    status, body, _ = download(web, f"{URL}/evaluation-sets/golden/versions/1/files/evaluation_set.jsonl")
    assert status == 200 and len(body.decode().splitlines()) == version.row_count == 2
    assert not list((Path(django_settings.EXPORT_DIR) / ".tmp").glob(f"{job.id}-*"))


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
