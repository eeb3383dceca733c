"""Imports as background jobs through a real Celery worker, from the page and from the API."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from reviewapp.jobs.models import Job
from reviewapp.requestlog.models import Request
from tests import factories
from tests.requestlog.helpers import jsonl, row, trace_dict, wait_for

pytestmark = pytest.mark.worker


def ten_thousand_lines_with_three_bad() -> list:
    lines: list = [
        row(i, trace=trace_dict(f"Q{i}", f"A{i}")) if i % 1000 == 0 else row(i) for i in range(10_000)
    ]
    lines[10] = '{"request_id": "broken json'
    lines[5000] = row(5000, response=None)
    lines[9998] = row(9998, timestamp="nope")
    return lines


def upload(client, app, content: bytes, name="traces.jsonl"):
    return client.post(
        reverse("request-import", args=[app.slug]),
        {"source": "jsonl", "file": SimpleUploadedFile(name, content)},
    )


def test_ten_thousand_rows_with_three_bad_lines_import_once_even_when_sent_twice(
    app, manager, as_user, celery_worker
):
    content = jsonl(ten_thousand_lines_with_three_bad())
    client = as_user(manager)

    response = upload(client, app, content)
    assert response.status_code == 302
    job = wait_for(Job.objects.get(kind="import_traces").pk)
    assert job.status == "succeeded", job.error
    assert Request.objects.filter(app=app, source="import").count() == 9_997
    assert job.result["imported"] == 9_997
    assert job.result["bad_rows"] == 3
    assert [e["line"] for e in job.result["errors"]] == [11, 5001, 9999]
    assert "not valid JSON" in job.result["errors"][0]["reason"]
    assert job.result["errors"][1]["reason"] == "response is missing"
    assert job.progress_done == job.progress_total == 10_000
    with_trace = Request.objects.get(pk=row(1000)["request_id"])
    assert with_trace.chunks[0]["doc_uri"] == "docs://a"

    page = client.get(reverse("job-progress", args=[job.pk]))
    assert "9997</strong> imported" in page.content.decode()
    assert "response is missing" in page.content.decode()

    upload(client, app, content)
    again = wait_for(Job.objects.exclude(pk=job.pk).get(kind="import_traces").pk)
    assert again.status == "succeeded", again.error
    assert (again.result["imported"], again.result["already_present"], again.result["bad_rows"]) == (
        0,
        9_997,
        3,
    )
    assert Request.objects.filter(app=app).count() == 9_997


def test_the_api_imports_rows_as_a_job_and_reports_bad_rows_by_position(app, manager, as_user, celery_worker):
    rows = [row(0), row(1, request=None), row(2)]
    client = as_user(manager)
    response = client.post(
        reverse("api-traces-import", args=[app.slug]), {"rows": rows}, content_type="application/json"
    )
    assert response.status_code == 202
    body = response.json()
    job = wait_for(body["job_id"])
    assert job.status == "succeeded", job.error
    status = client.get(body["status_url"]).json()
    assert status["status"] == "succeeded"
    assert status["result"]["imported"] == 2
    assert status["result"]["errors"] == [
        {"line": 2, "reason": "request is missing", "request_id": row(1)["request_id"]}
    ]
    assert Request.objects.filter(app=app, source="import").count() == 2


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "file is empty."),
        (b"\n\n  \n", "The file is empty."),
        (b"request_id,request,response\n", "first line is not a JSON object"),
        (b"\x00\x01\x02\xff\xfe binary" * 20, "not UTF-8"),
    ],
)
def test_a_file_that_is_not_jsonl_is_refused_at_once_and_nothing_is_queued(
    app, manager, as_user, content, message
):
    response = upload(as_user(manager), app, content, name="data.bin")
    assert response.status_code == 400
    assert message in " ".join(response.context["upload_form"].errors["file"])
    assert not Job.objects.exists()


def test_an_htmx_upload_answers_with_the_progress_fragment(app, manager, as_user):
    response = as_user(manager).post(
        reverse("request-import", args=[app.slug]),
        {"source": "jsonl", "file": SimpleUploadedFile("t.jsonl", jsonl([row(0)]))},
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="import-status">')
    job = Job.objects.get()
    assert f'id="job-{job.pk}"' in body
    assert job.params["source"] == "jsonl"


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "detail"),
        ({"rows": []}, "rows"),
        ({"rows": "not a list"}, "rows"),
        ({"rows": [row(0)], "mlflow": {"experiment": "x"}}, "detail"),
        ({"mlflow": {}}, "mlflow"),
    ],
)
def test_the_import_api_answers_bad_bodies_with_400_naming_the_field(app, manager, as_user, payload, field):
    response = as_user(manager).post(
        reverse("api-traces-import", args=[app.slug]), json.dumps(payload), content_type="application/json"
    )
    assert response.status_code == 400
    assert field in response.json()
    assert not Job.objects.exists()


@pytest.mark.parametrize("persona, status", [("outsider", 404), ("querier", 403), ("viewer", 403)])
def test_only_managers_may_import(app, persona, status, as_user, request):
    client = as_user(request.getfixturevalue(persona))
    api = client.post(
        reverse("api-traces-import", args=[app.slug]), {"rows": [row(0)]}, content_type="application/json"
    )
    page = client.post(
        reverse("request-import", args=[app.slug]), {"file": SimpleUploadedFile("t.jsonl", jsonl([row(0)]))}
    )
    assert (api.status_code, page.status_code) == (status, status)
    assert not Job.objects.exists()


def test_an_import_job_of_another_app_is_hidden_from_its_managers(app, manager, as_user):
    other = factories.make_app("other-bot")
    job = Job.objects.create(kind="import_traces", app=other, params={})
    assert as_user(manager).get(reverse("api-job-detail", args=[job.pk])).status_code == 404


def test_a_body_over_the_upload_limit_is_a_413_with_a_json_reason(app, manager, as_user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"rows": [row(i) for i in range(200)]})
    response = as_user(manager).post(
        reverse("api-traces-import", args=[app.slug]), body, content_type="application/json"
    )
    assert response.status_code == 413
    assert "upload a JSONL file" in response.json()["detail"]
    assert not Job.objects.exists()
