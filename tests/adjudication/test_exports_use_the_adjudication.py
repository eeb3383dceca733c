"""The "adjudicated" disagreement rule: the adjudicator's label wins over every other rule's answer."""

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviewapp.adjudication.models import Adjudication
from reviewapp.exports import services
from reviewapp.exports.evaluation_sets import export_evaluation_set
from reviewapp.exports.rows import RULES, evaluation_rows, judge_examples, resolve
from reviewapp.exports.selection import Filters, iter_reviewed
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
from reviewapp.reliability.services import weights_for
from tests import factories
from tests.exports.helpers import relevant, review, tick

ROTATE = {"doc_uri": "docs://tokens#rotate", "content": "Tokens can be rotated in Settings."}
REVOKE = {"doc_uri": "docs://tokens#revoke", "content": "Revoked tokens stop working at once."}
FINAL = "Press Rotate under Settings › API tokens; the old token stops at once."


@pytest.fixture
def three(app):
    return [factories.make_user(f"r{i}@example.com") for i in range(3)]


@pytest.fixture
def disputed(app, manager, three):
    """One up without a correction, two down with corrections: majority and latest say down."""
    request = factories.make_request(app, question="How do I rotate a token?", created_at=tick())
    review(request, three[0], "positive", retrieval_assessments=relevant(0, not_relevant=[1]))
    review(
        request,
        three[1],
        "negative",
        corrected_response="Ask support.",
        retrieval_assessments=relevant(not_relevant=[0, 1]),
    )
    review(
        request,
        three[2],
        "negative",
        corrected_response="Email support.",
        retrieval_assessments=relevant(not_relevant=[0, 1]),
    )
    return request


def adjudicate(request, manager, **fields):
    fields.setdefault("rating", "positive")
    fields.setdefault("relevant", {"0": True, "1": True})
    fields.setdefault("corrected_response", FINAL)
    return Adjudication.objects.create(app=request.app, request=request, adjudicator=manager, **fields)


def rows(app, rule):
    items = iter_reviewed(app=app, filters=Filters(), weights=weights_for(app, rule))
    return [row for _, row in evaluation_rows(items, rule=rule, include_outputs=False)]


def test_the_adjudicated_label_wins_over_every_other_rules_answer(app, manager, disputed):
    before = {rule: rows(app, rule) for rule in RULES if rule != "adjudicated"}
    adjudicate(disputed, manager, note="The corrections point away from the docs.")

    [row] = rows(app, "adjudicated")

    assert row == {
        "request_id": str(disputed.request_id),
        "request": "How do I rotate a token?",
        "expected_response": FINAL,
        "expected_retrieved_context": [ROTATE, REVOKE],
    }
    # Every other rule said something else (or left it out), and still does.
    assert before["majority"][0]["expected_response"] == "Email support."
    assert before["latest"][0]["expected_response"] == "Email support."
    assert before["leave_out"] == []
    for rule, answer in before.items():
        assert rows(app, rule) == answer and row not in answer


def test_without_an_adjudication_the_rule_is_the_majority(app, manager, disputed, three):
    plain = factories.make_request(app, question="Can I undo a revoke?", created_at=tick())
    review(plain, three[0], "negative", corrected_response="No.")
    review(plain, three[1], "negative")
    review(plain, three[2], "positive")
    adjudicate(disputed, manager)

    adjudicated = rows(app, "adjudicated")
    assert [r["request_id"] for r in adjudicated] == [str(disputed.request_id), str(plain.request_id)]
    assert adjudicated[1] == rows(app, "majority")[1]


def test_a_thumbs_down_adjudication_without_a_correction_expects_no_response(app, manager, disputed):
    adjudicate(disputed, manager, rating="negative", corrected_response="", relevant={"1": True})
    [item] = list(iter_reviewed(app=app, filters=Filters()))
    verdict = resolve(item, "adjudicated")
    # Passage 0 left unsettled takes the majority (not relevant); passage 1 is the adjudicator's.
    assert (verdict.rating, verdict.correction, verdict.relevant) == ("negative", None, {0: False, 1: True})
    assert rows(app, "adjudicated")[0]["expected_response"] is None
    assert rows(app, "adjudicated")[0]["expected_retrieved_context"] == [REVOKE]


def test_judge_examples_take_the_adjudicated_label_and_note(app, manager, disputed):
    adjudicate(disputed, manager, note="Checked against the docs.")
    [item] = list(iter_reviewed(app=app, filters=Filters()))
    examples = {(e.judge, e.chunk_position): e for e in judge_examples(item, resolve(item, "adjudicated"))}
    assert examples[("correctness", None)].value is True
    assert examples[("correctness", None)].fields["expected_response"] == FINAL
    assert "Adjudicated: Checked against the docs." in examples[("correctness", None)].rationale
    assert (examples[("chunk_relevance", 0)].value, examples[("chunk_relevance", 1)].value) == (True, True)


def test_the_adjudications_are_read_with_the_selection_not_one_query_per_request(app, manager, three):
    def queries_for(count):
        for _ in range(count):
            request = factories.make_request(app, created_at=tick())
            review(request, three[0], "positive")
            review(request, three[1], "negative")
            adjudicate(request, manager)
        with CaptureQueriesContext(connection) as captured:
            items = list(iter_reviewed(app=app, filters=Filters()))
        assert all(item.adjudication["rating"] == "positive" for item in items)
        return len(captured), len(items)

    few = queries_for(1)
    many = queries_for(6)
    assert (few[1], many[1]) == (1, 7) and few[0] == many[0]


def test_an_evaluation_set_export_with_the_adjudicated_rule_writes_the_final_label(app, manager, disputed):
    adjudicate(disputed, manager)
    job = services.start_evaluation_set_export(
        app=app, user=manager, name="adjudicated", filters=Filters(), rule="adjudicated"
    )
    job = run_job(str(job.id), export_evaluation_set)
    assert job.status == Job.Status.SUCCEEDED, job.error
    folder = job.evaluation_set_version.directory
    exported = pd.read_json(folder / "evaluation_set.jsonl", lines=True)
    assert exported["expected_response"].tolist() == [FINAL]
    assert job.evaluation_set_version.manifest["rule"] == "adjudicated"


def test_the_export_form_and_api_offer_the_rule(app, manager, as_user, disputed):
    from reviewapp.exports.forms import EvaluationSetForm

    assert "adjudicated" in dict(EvaluationSetForm.base_fields["rule"].choices)
    response = as_user(manager).post(
        "/api/v1/apps/support-bot/evaluation-sets",
        {"name": "final", "rule": "adjudicated", "filters": {}},
        content_type="application/json",
    )
    assert response.status_code == 202, response.json()
    assert Job.objects.get(pk=response.json()["job_id"]).params["rule"] == "adjudicated"
