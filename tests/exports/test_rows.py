"""The row builders: the evaluation-harness schema, the disagreement rule and the judge mapping."""

import pytest

from reviewapp.exports.rows import JUDGE_FIELDS, evaluation_rows, judge_examples, resolve
from reviewapp.exports.selection import Filters, curated_requests, iter_reviewed
from tests import factories
from tests.exports.helpers import custom_judge, relevant, review, reviewed


@pytest.fixture
def second(app):
    return factories.make_user("second@example.com")


@pytest.fixture
def third(app):
    return factories.make_user("third@example.com")


def rows_for(app, rule="majority", include_outputs=False, **filters):
    items = iter_reviewed(app=app, filters=Filters(**filters))
    return [row for _, row in evaluation_rows(items, rule=rule, include_outputs=include_outputs)]


def test_a_positive_rating_makes_the_response_the_expected_response(app, manager):
    request = reviewed(app, manager, "positive", retrieval_assessments=relevant(0, not_relevant=[1]))
    [row] = rows_for(app)
    assert row == {
        "request_id": str(request.request_id),
        "request": "How do I rotate an API token?",
        "expected_response": request.response,
        "expected_retrieved_context": [
            {"doc_uri": "docs://tokens#rotate", "content": "Tokens can be rotated in Settings."}
        ],
    }


def test_a_correction_wins_over_the_response_and_missing_sources_join_the_context(app, manager):
    reviewed(
        app,
        manager,
        "negative",
        corrected_response="Use Settings → API tokens → Rotate.",
        missing_sources=[{"doc_uri": "docs://faq", "content": "Rotate often."}],
    )
    [row] = rows_for(app)
    assert row["expected_response"] == "Use Settings → API tokens → Rotate."
    assert row["expected_retrieved_context"] == [{"doc_uri": "docs://faq", "content": "Rotate often."}]


def test_a_negative_rating_with_nothing_to_expect_is_left_out(app, manager):
    reviewed(app, manager, "negative", reasons=["inaccurate"])
    assert rows_for(app) == []


def test_outputs_are_added_on_request(app, manager):
    request = reviewed(app, manager)
    [row] = rows_for(app, include_outputs=True)
    assert row["response"] == request.response
    assert [c["doc_uri"] for c in row["retrieved_context"]] == [
        "docs://tokens#rotate",
        "docs://tokens#revoke",
    ]


def test_only_the_latest_feedback_of_a_reviewer_counts(app, manager):
    request = reviewed(app, manager, "negative", reasons=["inaccurate"])
    review(request, manager, "positive")
    [row] = rows_for(app)
    assert row["expected_response"] == request.response


def test_the_majority_rule_takes_the_side_most_reviewers_took(app, manager, second, third):
    request = reviewed(app, manager, "positive")
    review(request, second, "negative", corrected_response="Better answer.")
    review(request, third, "negative", corrected_response="Best answer.")
    assert rows_for(app, rule="majority")[0]["expected_response"] == "Best answer."


def test_the_majority_rule_leaves_a_tie_out(app, manager, second):
    request = reviewed(app, manager, "positive")
    review(request, second, "negative", corrected_response="Better answer.")
    assert rows_for(app, rule="majority") == []


def test_the_latest_rule_follows_the_newest_feedback(app, manager, second):
    request = reviewed(app, manager, "negative", corrected_response="Better answer.")
    review(request, second, "positive")
    assert rows_for(app, rule="latest")[0]["expected_response"] == request.response


def test_the_leave_out_rule_drops_requests_reviewers_disagree_on(app, manager, second):
    disputed = reviewed(app, manager, "positive")
    review(disputed, second, "negative", corrected_response="Better answer.")
    agreed = reviewed(app, manager, "positive", question="What is a token?")
    review(agreed, second, "positive")
    assert [r["request_id"] for r in rows_for(app, rule="leave_out")] == [str(agreed.request_id)]


def test_chunks_follow_the_rule_too(app, manager, second, third):
    request = reviewed(app, manager, "positive", retrieval_assessments=relevant(0, 1))
    review(request, second, "positive", retrieval_assessments=relevant(0, not_relevant=[1]))
    review(request, third, "positive", retrieval_assessments=relevant(not_relevant=[1]))
    [majority] = rows_for(app, rule="majority")
    assert [c["doc_uri"] for c in majority["expected_retrieved_context"]] == ["docs://tokens#rotate"]
    [leave_out] = rows_for(app, rule="leave_out")
    assert [c["doc_uri"] for c in leave_out["expected_retrieved_context"]] == ["docs://tokens#rotate"]


def test_filters_select_by_rating_reason_correction_reviewer_and_agreement(app, manager, second):
    good = reviewed(app, manager, "positive")
    bad = reviewed(app, manager, "negative", reasons=["irrelevant"], corrected_response="Fixed.")
    disputed = reviewed(app, manager, "positive")
    review(disputed, second, "negative", reasons=["inaccurate"])

    def ids(**filters):
        return {item.request_id for item in iter_reviewed(app=app, filters=Filters(**filters))}

    assert ids(rating="negative") == {str(bad.request_id), str(disputed.request_id)}
    assert ids(reasons=("irrelevant",)) == {str(bad.request_id)}
    assert ids(has_correction=True) == {str(bad.request_id)}
    assert ids(reviewer="second@example.com") == {str(disputed.request_id)}
    assert ids(agreement="disagree") == {str(disputed.request_id)}
    assert ids(agreement="all_agree") == {str(good.request_id), str(bad.request_id)}
    assert ids(request_ids=(str(good.request_id),)) == {str(good.request_id)}
    picked = Filters(request_ids=(str(good.request_id),), rating="positive")
    assert curated_requests(app=app, filters=picked).count() == 1


def examples_for(app, custom=(), rule="majority"):
    out = []
    for item in iter_reviewed(app=app, filters=Filters(), with_judge_results=True):
        verdict = resolve(item, rule)
        if verdict:
            out += list(judge_examples(item, verdict, custom))
    return out


def test_each_builtin_judge_gets_exactly_the_fields_it_reads(app, manager):
    reviewed(app, manager, "positive", retrieval_assessments=relevant(0), comment="Spot on.")
    examples = examples_for(app)
    by_judge = {e.judge: e for e in examples}
    assert set(by_judge) == {"groundedness", "correctness", "relevance_to_query", "chunk_relevance"}
    for judge, example in by_judge.items():
        assert tuple(example.fields) == JUDGE_FIELDS[judge]
        assert example.value is True
    assert "Spot on." in by_judge["correctness"].rationale
    assert by_judge["chunk_relevance"].fields["context"] == "Tokens can be rotated in Settings."


def test_negative_ratings_map_to_false_only_for_the_judges_their_reasons_name(app, manager):
    reviewed(app, manager, "negative", reasons=["irrelevant"], comment="Answers another question.")
    reviewed(app, manager, "negative", reasons=["not grounded in the sources"])
    reviewed(app, manager, "negative", reasons=["inaccurate"], corrected_response="The right answer.")
    examples = examples_for(app)
    assert sorted((e.judge, e.value) for e in examples) == [
        ("correctness", False),
        ("groundedness", False),
        ("relevance_to_query", False),
    ]
    correctness = next(e for e in examples if e.judge == "correctness")
    assert correctness.fields["expected_response"] == "The right answer."
    relevance = next(e for e in examples if e.judge == "relevance_to_query")
    assert "irrelevant" in relevance.rationale and "Answers another question." in relevance.rationale


def test_chunk_relevance_gives_one_example_per_rated_chunk(app, manager):
    reviewed(app, manager, "", retrieval_assessments=relevant(0, not_relevant=[1]))
    examples = examples_for(app)
    assert [(e.judge, e.chunk_position, e.value) for e in examples] == [
        ("chunk_relevance", 0, True),
        ("chunk_relevance", 1, False),
    ]


def test_custom_judges_learn_from_the_reasons_mapped_to_them(app, manager):
    tone = custom_judge(app, "professional", "ANSWER", "Professional tone?", "badly formatted")
    pii = custom_judge(app, "no_pii", "RETRIEVAL", "No PII in {retrieved_context}", "harmful or unsafe")
    reviewed(app, manager, "negative", reasons=["badly formatted"])
    reviewed(
        app,
        manager,
        "negative",
        reasons=["harmful or unsafe"],
        retrieval_assessments=relevant(not_relevant=[1]),
    )
    reviewed(app, manager, "positive", retrieval_assessments=relevant(0))
    examples = [e for e in examples_for(app, [tone, pii]) if e.judge in ("professional", "no_pii")]
    assert sorted((e.judge, e.value, tuple(e.fields)) for e in examples) == [
        ("no_pii", False, ("request", "retrieved_context")),
        ("no_pii", True, ("request", "retrieved_context")),
        ("professional", False, ("request", "response")),
        ("professional", True, ("request", "response")),
    ]


def test_a_judge_result_on_the_trace_that_differs_from_the_humans_is_flagged(app, manager):
    judged = {
        "info": {
            "assessments": [
                {
                    "assessment_name": "relevance_to_query",
                    "source": {"source_type": "LLM_JUDGE", "source_id": "judge"},
                    "feedback": {"value": "no"},
                }
            ]
        }
    }
    request = factories.make_request(app, trace=judged)
    review(request, manager, "positive")
    examples = {e.judge: e for e in examples_for(app)}
    assert examples["relevance_to_query"].judge_disagreement is True
    assert examples["correctness"].judge_disagreement is False
