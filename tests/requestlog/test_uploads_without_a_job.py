"""An upload is kept only with the job that names it: when the job row is not committed, the file
is removed again, from the shared bucket as from the local folder."""

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError

from reviewapp.catalog.models import App
from reviewapp.jobs.models import Job
from reviewapp.requestlog.services import start_jsonl_import, start_rows_import
from tests import factories, processes
from tests.requestlog.helpers import jsonl, row


@pytest.fixture(params=["folder", "bucket"])
def storage_kind(request, tmp_path, settings, monkeypatch):
    if request.param == "bucket":
        with processes.S3Server(tmp_path / "s3") as server:
            server.use_here(settings, monkeypatch)
            yield request.param
    else:
        settings.MEDIA_ROOT = str(tmp_path / "media")
        yield request.param


def uploads() -> list[str]:
    try:
        return default_storage.listdir("imports")[1]
    except FileNotFoundError:  # a folder that was never made
        return []


def test_an_upload_whose_job_is_not_committed_is_removed(transactional_db, app, manager, storage_kind):
    gone = factories.make_app("gone-bot", name="Gone bot")
    # Deleted while the uploads are on their way: their jobs cannot be committed.
    App.objects.filter(pk=gone.pk).delete()
    with pytest.raises(IntegrityError):
        start_rows_import(app=gone, user=manager, rows=[row(1)])
    with pytest.raises(IntegrityError):
        start_jsonl_import(
            app=gone, user=manager, upload=SimpleUploadedFile("traces.jsonl", jsonl([row(2), row(3)]))
        )
    assert not Job.objects.exists()
    # What is left is the file of the one import accepted.
    accepted = start_rows_import(app=app, user=manager, rows=[row(0)])
    assert [f"imports/{name}" for name in uploads()] == [accepted.params["file"]]
