"""The "reliability_weighted" disagreement rule: each vote weighs its reviewer's Dawid–Skene reliability."""

import json

import pytest

from reviewapp.exports import services as export_services
from reviewapp.exports.evaluation_sets import export_evaluation_set
from reviewapp.exports.forms import EvaluationSetForm
from reviewapp.exports.rows import RULES, evaluation_rows, resolve
from reviewapp.exports.selection import Filters, iter_reviewed
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
from reviewapp.reliability.services import reviewer_weights, weights_for
from tests import factories
from tests.reliability.helpers import relevance, reviewers


@pytest.fixture
def history(app):
    """20 requests all four reviewed: steady0/1 always give the true thumbs; careless0 is right on
    every other request, careless1 on two of each four, out of step with careless0."""
    steady0, steady1, careless0, careless1 = reviewers(app, 2, "steady") + reviewers(app, 2, "careless")
    for i in range(20):
        request = factories.make_request(app, question=f"Calibration {i}")
        truth = "positive" if i % 3 else "negative"
        wrong = "negative" if truth == "positive" else "positive"
        factories.make_assessment(request, steady0, truth)
        factories.make_assessment(request, steady1, truth)
        factories.make_assessment(request, careless0, truth if i % 2 else wrong)
        factories.make_assessment(request, careless1, truth if i % 4 in (0, 1) else wrong)
    return steady0, careless0, careless1


@pytest.fixture
def disputed(app, history):
    steady, careless0, careless1 = history
    # Tied 1–1 under majority; 1 against 2 under majority.
    tie = factories.make_request(app, question="Tied")
    factories.make_assessment(tie, steady, "positive")
    factories.make_assessment(tie, careless0, "negative")
    outvoted = factories.make_request(app, question="Outvoted")
    factories.make_assessment(outvoted, steady, "positive", retrieval_assessments=relevance(True))
    factories.make_assessment(outvoted, careless0, "negative", retrieval_assessments=relevance(False))
    factories.make_assessment(outvoted, careless1, "negative", retrieval_assessments=relevance(False))
    return tie, outvoted


def rows(app, rule, requests):
    filters = Filters(request_ids=tuple(str(r.request_id) for r in requests))
    items = iter_reviewed(app=app, filters=filters, weights=weights_for(app, rule))
    return {row["request_id"]: row for _, row in evaluation_rows(items, rule=rule, include_outputs=False)}


def test_the_weights_favour_the_steady_reviewers(app, history):
    steady, careless0, careless1 = history

    weights = reviewer_weights(app)

    assert weights[steady.email] > 1.5
    assert weights[careless0.email] < 0.5 and weights[careless1.email] < 0.5
    assert weights_for(app, "majority") is None


def test_the_reliable_side_wins_where_majority_ties_or_loses(app, disputed):
    tie, outvoted = disputed

    majority = rows(app, "majority", disputed)
    weighted = rows(app, "reliability_weighted", disputed)

    # Majority: the tie is left out; the outvoted thumbs up loses, leaving nothing to expect.
    assert majority == {}
    assert set(weighted) == {str(tie.request_id), str(outvoted.request_id)}
    assert weighted[str(tie.request_id)]["expected_response"] == tie.response
    assert weighted[str(outvoted.request_id)]["expected_response"] == outvoted.response
    # The passage the steady reviewer rated relevant, against two careless "not relevant".
    assert weighted[str(outvoted.request_id)]["expected_retrieved_context"] == [
        {"doc_uri": outvoted.chunks[0]["doc_uri"], "content": outvoted.chunks[0]["content"]}
    ]


def test_equal_weights_tie_and_the_request_is_left_out(app, history):
    _, careless0, careless1 = history
    request = factories.make_request(app)
    factories.make_assessment(request, careless0, "positive")
    factories.make_assessment(request, careless1, "negative")
    (item,) = iter_reviewed(
        app=app,
        filters=Filters(request_ids=(str(request.request_id),)),
        weights={careless0.email: 0.25, careless1.email: 0.25},
    )

    assert resolve(item, "reliability_weighted") is None


def test_the_rule_refuses_to_run_without_weights(app, disputed):
    (item, _) = iter_reviewed(
        app=app, filters=Filters(request_ids=tuple(str(r.request_id) for r in disputed))
    )

    with pytest.raises(ValueError, match="needs the reviewers' weights"):
        resolve(item, "reliability_weighted")


def test_an_export_job_under_the_rule_writes_the_reliable_side(app, manager, disputed):
    tie, outvoted = disputed
    job = export_services.start_evaluation_set_export(
        app=app,
        user=manager,
        name="weighted",
        filters=Filters(request_ids=tuple(str(r.request_id) for r in disputed)),
        rule="reliability_weighted",
    )

    job = run_job(str(job.id), export_evaluation_set)

    assert job.status == Job.Status.SUCCEEDED, job.error
    version = job.evaluation_set_version
    assert version.manifest["rule"] == "reliability_weighted"
    written = [
        json.loads(line) for line in (version.directory / "evaluation_set.jsonl").read_text().splitlines()
    ]
    assert {row["request_id"]: row["expected_response"] for row in written} == {
        str(tie.request_id): tie.response,
        str(outvoted.request_id): outvoted.response,
    }


def test_the_forms_and_the_api_offer_the_rule(app, manager, disputed, as_user):
    assert "reliability_weighted" in RULES
    assert "reliability_weighted" in dict(EvaluationSetForm().fields["rule"].choices)
    page = as_user(manager).get(f"/apps/{app.slug}/curate/?rule=reliability_weighted")
    assert page.status_code == 200
    # The preview is built under the rule: the tied request has a row.
    assert str(disputed[0].request_id) in page.content.decode()
    response = as_user(manager).post(
        f"/api/v1/apps/{app.slug}/evaluation-sets",
        {
            "name": "weighted-api",
            "rule": "reliability_weighted",
            "request_ids": [str(disputed[0].request_id)],
        },
        content_type="application/json",
    )
    assert response.status_code == 202, response.json()
