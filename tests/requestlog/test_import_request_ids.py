"""request_id in an imported row: a UUID as it is, any other text mapped to a stable id, or none."""

import uuid

import pytest
from django.urls import reverse

from reviewapp.requestlog.models import Request
from reviewapp.requestlog.storage import ImportReport, import_rows
from tests import factories
from tests.requestlog.helpers import row, wait_for


def run(app, rows):
    report = ImportReport(source="test")
    import_rows(app=app, rows=list(enumerate(rows, start=1)), report=report)
    return report


def test_a_uuid_request_id_is_kept_exactly_as_before(app):
    given = uuid.uuid4()
    report = run(app, [row(0, request_id=str(given)), row(1, request_id=f"tr-{uuid.UUID(int=7).hex}")])
    assert (report.imported, report.bad_rows) == (2, 0)
    assert set(Request.objects.filter(app=app).values_list("request_id", flat=True)) == {
        given,
        uuid.UUID(int=7),
    }


def test_a_text_request_id_imports_and_importing_it_again_adds_nothing(app):
    rows = [row(0, request_id="ticket-1001"), row(1, request_id=42), row(2, request_id="  ticket-1003 ")]
    first = run(app, rows)
    assert (first.imported, first.bad_rows) == (3, 0)
    again = run(app, rows)
    assert (again.imported, again.already_present, again.bad_rows) == (0, 3, 0)
    assert Request.objects.filter(app=app).count() == 3


def test_the_same_text_id_in_two_apps_is_two_requests(app):
    other = factories.make_app("other-bot")
    assert run(app, [row(0, request_id="ticket-1")]).imported == 1
    report = run(other, [row(0, request_id="ticket-1")])
    assert (report.imported, report.bad_rows) == (1, 0)
    assert Request.objects.filter(app=other).count() == Request.objects.filter(app=app).count() == 1


def test_rows_without_a_request_id_are_stored_and_stored_again_on_a_second_import(app):
    rows = [row(0, request_id=None), row(1, request_id="")]
    del rows[0]["request_id"]
    assert run(app, rows).imported == 2
    assert run(app, rows).imported == 2
    assert Request.objects.filter(app=app).count() == 4


def test_a_request_id_that_is_not_text_or_too_long_is_skipped_with_the_reason(app):
    report = run(app, [row(0, request_id={"id": 1}), row(1, request_id="x" * 501), row(2, request_id=True)])
    assert report.imported == 0
    assert [(e["line"], e["reason"]) for e in report.errors] == [
        (1, "request_id must be text"),
        (2, "request_id is longer than 500 characters"),
        (3, "request_id must be text"),
    ]


def test_a_text_id_with_an_unpaired_surrogate_still_imports(app):
    report = run(app, [row(0, request_id="id-\ud800")])
    assert (report.imported, report.bad_rows) == (1, 0)


@pytest.mark.worker
def test_the_api_takes_uuid_and_text_ids_and_a_second_call_adds_nothing(app, manager, as_user, celery_worker):
    given = uuid.uuid4()
    rows = [row(0, request_id=str(given)), row(1, request_id="crm-77")]
    client = as_user(manager)
    url = reverse("api-traces-import", args=[app.slug])
    for imported, present in ((2, 0), (0, 2)):
        response = client.post(url, {"rows": rows}, content_type="application/json")
        assert response.status_code == 202
        job = wait_for(response.json()["job_id"])
        assert job.status == "succeeded", job.error
        assert (job.result["imported"], job.result["already_present"]) == (imported, present)
    stored = set(Request.objects.filter(app=app).values_list("request_id", flat=True))
    assert given in stored and len(stored) == 2
