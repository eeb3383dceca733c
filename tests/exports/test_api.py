"""The export API: 202 + job, versions, downloads, and clear 4xx answers for bad input."""

import json

import pytest

from reviewapp.exports.models import EvaluationSetVersion, MlflowStatus
from reviewapp.jobs.models import Job
from tests.exports.helpers import relevant, reviewed, wait_until

URL = "/api/v1/apps/support-bot/evaluation-sets"


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.mark.worker
def test_a_manager_exports_a_set_through_the_worker_and_downloads_its_files(
    app, manager, as_user, celery_worker
):
    reviewed(app, manager, "positive", retrieval_assessments=relevant(0))
    reviewed(app, manager, "negative", question="Other?", corrected_response="Fixed answer.")
    client = as_user(manager)
    response = post(client, URL, {"name": "golden", "rule": "latest", "include_outputs": True})
    assert response.status_code == 202, response.content
    job_id = response.json()["job_id"]
    assert response.json()["status_url"].endswith(f"/api/v1/jobs/{job_id}")

    job = wait_until(
        lambda: (
            client.get(f"/api/v1/jobs/{job_id}").json()["status"] in ("succeeded", "failed")
            and client.get(f"/api/v1/jobs/{job_id}").json()
        )
    )
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["version"] == 1 and job["result"]["row_count"] == 2

    detail = client.get(f"{URL}/golden/versions/1").json()
    assert detail["row_count"] == 2 and detail["manifest"]["rule"] == "latest"
    download = client.get(detail["files"]["evaluation_set.jsonl"])
    assert download.status_code == 200
    rows = [json.loads(line) for line in b"".join(download.streaming_content).decode().splitlines()]
    assert [r["expected_response"] for r in rows][1] == "Fixed answer."
    assert "response" in rows[0] and "retrieved_context" in rows[0]

    listing = client.get(URL).json()
    assert listing == [
        {
            "name": "golden",
            "versions": [
                {
                    "number": 1,
                    "row_count": 2,
                    "created_at": listing[0]["versions"][0]["created_at"],
                    "mlflow_status": listing[0]["versions"][0]["mlflow_status"],
                }
            ],
        }
    ]
    # The worker logs it to MLflow after the files.
    version = wait_until(
        lambda: EvaluationSetVersion.objects.filter(mlflow_status=MlflowStatus.DONE).first(), timeout=120
    )
    assert version.mlflow_dataset_id.startswith("d-")


def test_an_empty_selection_is_a_400_naming_the_filters(app, manager, as_user):
    reviewed(app, manager, "positive")
    response = post(as_user(manager), URL, {"name": "golden", "filters": {"rating": "negative"}})
    assert response.status_code == 400
    assert "filters" in response.json()
    assert not Job.objects.exists()


def test_a_set_name_in_an_unknown_format_is_a_400_naming_the_name(app, manager, as_user):
    reviewed(app, manager, "positive")
    response = post(as_user(manager), URL, {"name": "Golden Set!"})
    assert response.status_code == 400
    assert "not a valid set name" in response.json()["name"][0]


def test_an_unknown_rule_or_request_id_is_a_400(app, manager, as_user):
    reviewed(app, manager, "positive")
    assert "rule" in post(as_user(manager), URL, {"name": "golden", "rule": "vote"}).json()
    assert "request_ids" in post(as_user(manager), URL, {"name": "golden", "request_ids": ["nope"]}).json()


def test_picked_requests_that_are_not_reviewed_make_an_empty_selection(app, manager, as_user):
    from tests import factories

    unreviewed = factories.make_request(app)
    response = post(as_user(manager), URL, {"name": "golden", "request_ids": [str(unreviewed.request_id)]})
    assert response.status_code == 400 and "request_ids" in response.json()


def test_people_who_cannot_manage_the_app_cannot_export(app, manager, querier, viewer, outsider, as_user):
    reviewed(app, manager, "positive")
    assert post(as_user(outsider), URL, {"name": "golden"}).status_code == 404
    assert post(as_user(querier), URL, {"name": "golden"}).status_code == 403
    assert post(as_user(viewer), "/api/v1/apps/support-bot/judge-examples", {}).status_code == 403
    assert as_user(outsider).get(f"{URL}/golden/versions/1").status_code == 404
    assert as_user(None).get(URL).status_code in (401, 403)
    assert not Job.objects.exists()


def test_judge_examples_are_started_through_the_api(app, manager, as_user):
    reviewed(app, manager, "positive")
    response = post(as_user(manager), "/api/v1/apps/support-bot/judge-examples", {"judges": ["correctness"]})
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.kind == "export_judge_examples" and job.params["judges"] == ["correctness"]
    bad = post(as_user(manager), "/api/v1/apps/support-bot/judge-examples", {"judges": ["tone"]})
    assert bad.status_code == 400 and "judges" in bad.json()


def test_managers_define_custom_judges_with_field_errors_for_bad_ones(app, manager, as_user):
    url = "/api/v1/apps/support-bot/custom-judges"
    body = {
        "name": "professional",
        "type": "ANSWER",
        "definition": "Professional tone?",
        "reasons": ["badly formatted"],
    }
    assert post(as_user(manager), url, body).status_code == 201
    again = post(as_user(manager), url, body)
    assert again.status_code == 409 and "already exists" in again.json()["name"][0]
    assert as_user(manager).get(url).json()[0]["name"] == "professional"
