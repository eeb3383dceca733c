"""Trace imports through a shared S3-compatible bucket (moto's server on loopback): the web keeps
the upload in the bucket, a worker on "another machine" (its own process and folders) reads it."""

import json
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from reviewapp.celery import app as celery_app
from reviewapp.jobs.models import Job
from reviewapp.requestlog.models import Request
from tests import processes
from tests.requestlog.helpers import jsonl, row, wait_for


@pytest.fixture
def bucket(tmp_path, settings, monkeypatch):
    with processes.S3Server(tmp_path / "s3") as server:
        server.use_here(settings, monkeypatch)
        yield server


@pytest.mark.worker
def test_uploads_kept_in_the_bucket_are_imported_by_a_worker_on_another_machine(
    transactional_db, app, manager, as_user, bucket, tmp_path
):
    celery_app.control.purge()
    client = as_user(manager)
    page = client.post(
        reverse("request-import", args=[app.slug]),
        {"source": "jsonl", "file": SimpleUploadedFile("traces.jsonl", jsonl([row(i) for i in range(5)]))},
    )
    assert page.status_code == 302, page.content
    api = client.post(
        f"/api/v1/apps/{app.slug}/traces:import",
        json.dumps({"rows": [row(i) for i in range(5, 8)]}),
        content_type="application/json",
    )
    assert api.status_code == 202, api.content
    # Both wait in the bucket, not on this machine, for a worker.
    uploads = bucket.keys("reviewapp/media/imports/")
    assert len(uploads) == 2 and all(key.endswith(".jsonl") for key in uploads)
    assert not list(Path(django_settings.MEDIA_ROOT).rglob("*.jsonl"))

    machine = tmp_path / "worker-machine"
    env = processes.test_env(
        **bucket.env(), EXPORT_DIR=str(machine / "exports"), MEDIA_ROOT=str(machine / "media")
    )
    args = processes.celery_args("worker", "--pool=solo", "-n", f"s3-{uuid.uuid4().hex[:6]}@%h")
    with processes.process([*args, "--without-gossip", "--without-mingle"], env, tmp_path / "worker.log"):
        jobs = [wait_for(job.pk) for job in Job.objects.filter(kind="import_traces")]
    assert [job.status for job in jobs] == ["succeeded", "succeeded"], processes.tail(tmp_path / "worker.log")
    assert sorted(job.result["imported"] for job in jobs) == [3, 5]
    assert Request.objects.filter(app=app, source="import").count() == 8
    # Read, then removed: nothing left in the bucket or on the worker's machine.
    assert bucket.keys("reviewapp/media/") == []
    assert not [p for p in machine.rglob("*") if p.is_file()]
