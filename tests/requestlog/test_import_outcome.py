"""A finished import says how it went: all imported, partly, or nothing, with the reasons."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from reviewapp.jobs.models import Job
from reviewapp.requestlog.storage import ImportReport, import_rows
from tests.requestlog.helpers import jsonl, row, wait_for


def finished_import(app, user, rows) -> Job:
    report = import_rows(app=app, rows=list(enumerate(rows, start=1)), report=ImportReport(source="jsonl"))
    now = timezone.now()
    return Job.objects.create(
        kind="import_traces",
        app=app,
        created_by=user,
        status=Job.Status.SUCCEEDED,
        result=report.as_dict(),
        started_at=now,
        finished_at=now,
    )


def progress(client, job, htmx=False):
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.get(reverse("job-progress", args=[job.pk]), headers=headers)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("htmx", [False, True])
def test_an_import_where_every_row_failed_is_a_warning_with_the_reasons_by_line(app, manager, as_user, htmx):
    job = finished_import(app, manager, [row(0, response=None), row(1, timestamp="last tuesday")])
    body = progress(as_user(manager), job, htmx)
    assert "Nothing imported: all 2 rows had problems." in body
    assert "badge-warning" in body and "badge-ok" not in body
    assert ">Nothing imported</span>" in body
    assert "<td>1</td><td>response is missing</td>" in body
    assert "<td>2</td><td>timestamp &#x27;last tuesday&#x27; is not ISO 8601</td>" in body
    assert "Import running" not in body


def test_a_partly_failed_import_says_how_many_were_imported_and_skipped(app, manager, as_user):
    rows = [row(i) for i in range(8)] + [row(8, request=None), row(9, response=None)]
    body = progress(as_user(manager), finished_import(app, manager, rows))
    assert "8 imported, 2 skipped." in body
    assert ">Partly imported</span>" in body
    assert "<td>9</td><td>request is missing</td>" in body


def test_a_clean_import_is_a_plain_success_and_a_repeat_says_nothing_new(app, manager, as_user):
    client = as_user(manager)
    body = progress(client, finished_import(app, manager, [row(0), row(1)]))
    assert "2 imported." in body and "badge-ok" in body and "badge-warning" not in body
    again = progress(client, finished_import(app, manager, [row(0), row(1)]))
    assert "Nothing new, 2 already here." in again and "badge-warning" not in again


def test_the_page_lists_the_first_fifty_reasons_and_says_how_many_there_were(app, manager, as_user):
    body = progress(
        as_user(manager), finished_import(app, manager, [row(i, response=None) for i in range(60)])
    )
    assert "(the first 50 of 60)" in body
    assert body.count("response is missing") == 50


@pytest.mark.worker
def test_a_file_whose_rows_all_fail_finishes_as_a_warning_through_the_worker(
    app, manager, as_user, celery_worker
):
    client = as_user(manager)
    content = jsonl([row(0, response=None), "not json at all", row(2, request_id=["x"])])
    response = client.post(
        reverse("request-import", args=[app.slug]),
        {"source": "jsonl", "file": SimpleUploadedFile("bad.jsonl", content)},
    )
    assert response.status_code == 302
    job = wait_for(Job.objects.get(kind="import_traces").pk)
    assert job.status == "succeeded", job.error
    assert (job.result["warning"], job.result["badge"]) == (True, "Nothing imported")
    body = progress(client, job)
    assert "Nothing imported: all 3 rows had problems." in body
    assert "request_id must be text" in body


@pytest.mark.parametrize(
    "seconds, words",
    [(5, "under a minute"), (60, "1 minute"), (150, "2 minutes"), (3720, "1 hour 2 minutes")],
)
def test_a_finished_job_says_how_long_it_took_in_words(app, manager, as_user, seconds, words):
    job = finished_import(app, manager, [row(0)])
    Job.objects.filter(pk=job.pk).update(started_at=job.finished_at - timedelta(seconds=seconds))
    assert f"Done in {words}." in progress(as_user(manager), job)
