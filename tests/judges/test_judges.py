"""Judges over the API: defined, versioned, run as a job over reviewed requests (once per version and
request), measured against the reviewers (kappa, confusion matrix, disagreements first), deleted
with their results kept; clear 400s for bad input."""

import json

import pytest

from reviewapp.accounts.models import ApiToken
from reviewapp.client import ApiError, Client
from reviewapp.exports.selection import Filters
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
from reviewapp.judges import services
from reviewapp.judges.models import Judge, JudgeResult
from reviewapp.judges.runs import run
from tests import factories
from tests.exports.helpers import wait_until
from tests.judges.helpers import UNGROUNDED, judged

URL = "/api/v1/apps/support-bot/judges"


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_a_manager_defines_a_judge_and_each_change_is_a_new_version(app, manager, as_user):
    client = as_user(manager)

    created = post(client, URL, {"name": "answer_f1", "kind": "reference", "metric": "token_f1"})
    assert created.status_code == 201, created.content
    assert created.json()["version"] == {**created.json()["version"], "number": 1, "threshold": 0.5}
    assert created.json()["criterion"] == "correctness"

    changed = client.patch(
        f"{URL}/answer_f1", json.dumps({"threshold": 0.7}), content_type="application/json"
    )
    assert [v["number"] for v in changed.json()["versions"]] == [1, 2]
    assert changed.json()["version"]["threshold"] == 0.7
    same = client.patch(f"{URL}/answer_f1", json.dumps({"threshold": 0.7}), content_type="application/json")
    assert len(same.json()["versions"]) == 2
    # A new metric starts from its own threshold.
    rouge = client.patch(
        f"{URL}/answer_f1", json.dumps({"metric": "exact_match"}), content_type="application/json"
    )
    assert rouge.json()["version"] == {
        **rouge.json()["version"],
        "number": 3,
        "metric": "exact_match",
        "threshold": 1.0,
    }
    assert [j["name"] for j in client.get(URL).json()] == ["answer_f1"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Bad Name", "kind": "reference"}, "name"),
        ({"name": "x", "kind": "oracle"}, "kind"),
        ({"name": "x", "kind": "reference", "metric": "mrr"}, "metric"),
        ({"name": "x", "kind": "reference", "threshold": 2}, "threshold"),
        ({"name": "x", "kind": "reference", "threshold": "NaN"}, "threshold"),
        ({"name": "x", "kind": "reference", "threshold": "high"}, "threshold"),
    ],
)
def test_a_bad_judge_is_a_400_naming_the_field(app, manager, as_user, body, field):
    response = post(as_user(manager), URL, body)

    assert response.status_code == 400 and field in response.json(), response.content
    assert not Judge.objects.exists()


def test_a_nul_in_a_name_is_a_400_naming_it(app, manager, as_user):
    response = post(as_user(manager), URL, {"name": "x\u0000", "kind": "reference"})

    assert response.status_code == 400 and "name contains a NUL" in response.json()["detail"]


def test_a_name_in_use_is_refused_and_free_again_once_deleted(app, manager, as_user):
    client = as_user(manager)
    assert post(client, URL, {"name": "grounded", "kind": "groundedness"}).status_code == 201
    again = post(client, URL, {"name": "grounded", "kind": "groundedness"})
    assert again.status_code == 409 and "already has a judge" in again.json()["name"][0]

    assert client.delete(f"{URL}/grounded").status_code == 204
    assert client.get(f"{URL}/grounded").status_code == 404
    assert post(client, URL, {"name": "grounded", "kind": "groundedness"}).status_code == 201


def test_a_run_judges_each_reviewed_request_once_per_version(app, manager, labelled):
    judge, job = judged(app, manager)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["judged"] == 6 and job.result["skipped"] == 0
    values = dict(JudgeResult.objects.values_list("request_id", "value"))
    assert values == {
        labelled[name].pk: "pass" if name in ("r1", "r2", "r6") else "fail" for name in labelled
    }
    result = JudgeResult.objects.get(request=labelled["r3"])
    assert result.source_type == "CODE" and result.score == 0.0 and UNGROUNDED in result.rationale

    again = run_job(str(services.start_run(judge=judge, user=manager, filters=Filters()).pk), run)
    assert (again.result["judged"], again.result["already_judged"]) == (0, 6)
    # A new version judges them all again, as itself.
    services.change_judge(judge=judge, user=manager, threshold=0.5)
    third = run_job(str(services.start_run(judge=judge, user=manager, filters=Filters()).pk), run)
    assert third.result["judged"] == 6 and JudgeResult.objects.count() == 12


def test_a_reference_judge_skips_requests_without_a_correction(app, manager):
    factories.make_assessment(
        factories.make_request(app, response="Open Settings."),
        manager,
        "negative",
        corrected_response="Open Settings, then API tokens.",
    )
    factories.make_assessment(factories.make_request(app), manager, "positive")

    _judge, job = judged(app, manager, name="f1", kind="reference", metric="token_f1")

    assert (job.result["judged"], job.result["skipped"]) == (1, 1)
    assert job.result["skipped_because"] == {"no correction to compare with": 1}
    # got: open settings (2); want: open settings then api tokens (5); P = 1, R = 2/5 → F1 = 4/7.
    assert JudgeResult.objects.get().score == pytest.approx(4 / 7)


def test_agreement_with_the_reviewers_is_worked_out_on_the_requests_both_labelled(
    app, manager, as_user, labelled
):
    judged(app, manager)

    answer = as_user(manager).get(f"{URL}/grounded/agreement").json()

    # r5's thumbs down gives no groundedness label: left out. Reviewers × judge:
    #   pass/pass r1 r6 · fail/pass r2 · fail/fail r3 · pass/fail r4.
    assert (answer["judged"], answer["compared"]) == (6, 5)
    assert answer["confusion"] == {"pass": {"pass": 2, "fail": 1}, "fail": {"pass": 1, "fail": 1}}
    assert answer["accuracy"] == pytest.approx(3 / 5)
    # p_o = 0.6; p_e = 0.6 * 0.6 + 0.4 * 0.4 = 0.52; kappa = 0.08 / 0.48.
    assert answer["kappa"] == pytest.approx(1 / 6)
    assert (answer["precision"], answer["recall"]) == (0.5, 0.5)
    ids = {name: str(r.pk) for name, r in labelled.items()}
    assert answer["disagreements"] == [ids["r4"], ids["r2"]]
    assert sorted(answer["items"]["pass"]["pass"]) == sorted([ids["r1"], ids["r6"]])


def test_a_deleted_judge_keeps_its_results(app, manager, labelled):
    judge, _job = judged(app, manager)

    services.delete_judge(judge=judge)

    assert JudgeResult.objects.filter(version__judge=judge).count() == 6


def test_an_empty_selection_or_an_unknown_version_is_a_400(app, manager, as_user):
    client = as_user(manager)
    post(client, URL, {"name": "grounded", "kind": "groundedness"})

    empty = post(client, f"{URL}/grounded/runs", {})
    assert empty.status_code == 400 and "selection is empty" in empty.json()["filters"][0]
    factories.make_assessment(factories.make_request(app), manager, "positive")
    unknown = post(client, f"{URL}/grounded/runs", {"version": 9})
    assert unknown.status_code == 400 and "no version 9" in unknown.json()["version"][0]
    assert client.get(f"{URL}/grounded/agreement", {"version": "x"}).status_code == 400


def test_judges_are_for_the_apps_managers(app, manager, querier, outsider, as_user):
    post(as_user(manager), URL, {"name": "grounded", "kind": "groundedness"})

    assert as_user(querier).get(URL).status_code == 403
    assert post(as_user(querier), URL, {"name": "x", "kind": "groundedness"}).status_code == 403
    assert as_user(outsider).get(f"{URL}/grounded/agreement").status_code == 404
    other = factories.make_app("other-bot")
    factories.grant(other, outsider, factories.Level.CAN_MANAGE)
    # A manager of another app never sees this app's judges under theirs.
    assert as_user(outsider).get("/api/v1/apps/other-bot/judges/grounded").status_code == 404


@pytest.mark.worker
def test_a_run_started_over_the_api_is_done_by_the_worker(app, manager, as_user, labelled, celery_worker):
    client = as_user(manager)
    post(client, URL, {"name": "grounded", "kind": "groundedness"})

    started = post(client, f"{URL}/grounded/runs", {"filters": {"rating": "positive"}})
    assert started.status_code == 202, started.content
    job = wait_until(
        lambda: (
            (body := client.get(f"/api/v1/jobs/{started.json()['job_id']}").json())["status"]
            in ("succeeded", "failed")
            and body
        )
    )

    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["judged"] == 3  # r1, r4, r6


@pytest.mark.worker
def test_the_client_defines_runs_and_measures_a_judge(live_server, app, manager, labelled, celery_worker):
    _token, raw = ApiToken.issue(user=manager, name="client test")
    client = Client(live_server.url, token=raw, timeout=30)

    assert client.create_judge("support-bot", "grounded", "groundedness")["version"]["metric"] == "lexical"
    job = client.run_judge("support-bot", "grounded", timeout=120)
    assert job["status"] == "succeeded" and job["result"]["judged"] == 6
    assert client.judge_agreement("support-bot", "grounded")["kappa"] == pytest.approx(1 / 6)
    with pytest.raises(ApiError) as refused:
        client.create_judge("support-bot", "grounded", "groundedness")
    assert refused.value.status == 409


def test_a_run_judges_the_requests_of_an_evaluation_set_version(app, manager, as_user, labelled):
    from reviewapp.exports import services as exports
    from reviewapp.exports.evaluation_sets import export_evaluation_set

    picked = [str(labelled[name].pk) for name in ("r1", "r6")]  # both approved: both rows of the set
    export = exports.start_evaluation_set_export(
        app=app, user=manager, name="golden", filters=Filters(request_ids=tuple(picked))
    )
    assert run_job(str(export.pk), export_evaluation_set).status == Job.Status.SUCCEEDED
    services.create_judge(app=app, user=manager, name="grounded", kind="groundedness")
    client = as_user(manager)

    started = post(client, f"{URL}/grounded/runs", {"evaluation_set": "golden"})

    assert started.status_code == 202, started.content
    job = run_job(started.json()["job_id"], run)
    assert job.result["judged"] == 2
    assert {str(r) for r in JudgeResult.objects.values_list("request_id", flat=True)} == set(picked)
    unknown = post(client, f"{URL}/grounded/runs", {"evaluation_set": "silver"})
    assert (
        unknown.status_code == 400
        and "no evaluation set named 'silver'" in unknown.json()["evaluation_set"][0]
    )
    missing = post(client, f"{URL}/grounded/runs", {"evaluation_set": "golden", "evaluation_set_version": 7})
    assert missing.status_code == 400 and "has no version 7" in missing.json()["evaluation_set_version"][0]
