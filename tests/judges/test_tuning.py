"""Tuning an LLM judge with the reviewers' examples: the split never leaks a request or a
conversation, the next version carries the examples, both versions are measured on the held-out
requests only, and a criterion the reviewers themselves disagree on is refused unless overridden."""

import json
import random

import pytest

from reviewapp.exports.rows import Example
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
from reviewapp.judges import services, tuning
from tests import factories
from tests.judges import judge_model

URL = "/api/v1/apps/support-bot/judges"
CORRECTION = "Tokens expire after 90 days."


def labelled_item(n: int, group: str, value: bool) -> tuning.Labelled:
    example = Example(
        judge="correctness",
        value=value,
        fields={"request": f"q{n}"},
        rationale="",
        request_id=f"r{n}",
        conversation_id=group,
        mlflow_trace_id="",
        human_disagreement=False,
        judge_disagreement=False,
    )
    return tuning.Labelled(example, group)


def test_the_split_never_puts_a_request_or_a_conversation_on_both_sides():
    rng = random.Random(7)
    items = [labelled_item(n, f"conversation-{rng.randrange(60)}", rng.random() < 0.3) for n in range(300)]

    for judge_id in range(1, 30):
        examples, held_out = tuning.split(judge_id, items)

        assert {i.group for i in examples}.isdisjoint({i.group for i in held_out})
        assert {i.example.request_id for i in examples}.isdisjoint({i.example.request_id for i in held_out})
        assert len(examples) == tuning.MAX_EXAMPLES
        # Balanced: as many fails as passes while both last.
        assert sum(not i.example.value for i in examples) == tuning.MAX_EXAMPLES // 2
        assert tuning.split(judge_id, items) == (examples, held_out)  # the same split each time
        # Half the conversations on each side.
        assert len({i.group for i in held_out}) in (29, 30, 31)


def reviewed(app, reviewer, i, rating):
    request = factories.make_request(
        app,
        question=f"How long does token {i} last?",
        response=f"Token {i} lasts forever." if rating == "negative" else f"Token {i} expires after 90 days.",
    )
    extra = {"corrected_response": CORRECTION, "comment": "This is wrong."} if rating == "negative" else {}
    factories.make_assessment(request, reviewer, rating, **extra)
    return request


def llm_judge(app, manager, server):
    return services.create_judge(
        app=app,
        user=manager,
        name="correct",
        kind="llm",
        metric="correctness",
        **judge_model.settings_of(server),
    )


def test_tuning_makes_the_next_version_with_examples_and_measures_both_on_the_held_out_requests_only(
    app, manager, judge_server
):
    # 14 answers the reviewers failed (a comment saying "wrong"), 6 they approved, each its own
    # conversation. The judge model's rule fails a prompt that says "wrong": no answer does, so
    # version 1 passes everything; the tuned version's examples carry a reviewer's "This is wrong.",
    # so it fails everything. On the held-out requests its accuracy is the share the reviewers failed.
    requests = [reviewed(app, manager, i, "negative" if i < 14 else "positive") for i in range(20)]
    judge = llm_judge(app, manager, judge_server)

    job = services.start_tuning(judge=judge, user=manager)
    job = run_job(str(job.pk), tuning.run)

    assert job.status == Job.Status.SUCCEEDED, job.error
    tuned = judge.current
    assert (tuned.number, tuned.tuned_from.number) == (2, 1)
    examples = {e["request_id"] for e in tuned.examples}
    held_out = set(tuned.held_out)
    assert examples and held_out and examples.isdisjoint(held_out)
    # Requests of the examples' side beyond the examples are left out of both.
    assert examples | held_out <= {str(r.pk) for r in requests} and len(examples) <= tuning.MAX_EXAMPLES
    failed = {str(r.pk) for r in requests[:14]}
    assert any(e["value"] is False and "This is wrong." in e["rationale"] for e in tuned.examples)
    # Only the held-out requests were judged, by both versions.
    asked = judge_model.prompts(judge_server)
    assert len(asked) == 2 * len(held_out)
    assert sum("Here are items the domain experts judged" in p for p in asked) == len(held_out)
    share_failed = len(held_out & failed) / len(held_out)
    result = job.result
    assert (result["examples"], result["held_out"]) == (len(examples), len(held_out))
    assert result["before"]["accuracy"] == pytest.approx(1 - share_failed)
    assert result["after"]["accuracy"] == pytest.approx(share_failed)
    assert result["before"]["compared"] == result["after"]["compared"] == len(held_out)


def test_tuning_is_refused_when_the_reviewers_disagree_among_themselves_unless_overridden(
    app, manager, as_user, judge_server
):
    other = factories.make_user("second@example.com")
    # Two reviewers on the same 12 requests, agreeing on half by chance alone.
    for i in range(12):
        request = reviewed(app, manager, i, "negative" if i % 2 else "positive")
        second = "negative" if i % 4 < 2 else "positive"
        extra = {"corrected_response": CORRECTION} if second == "negative" else {}
        factories.make_assessment(request, other, second, **extra)
    llm_judge(app, manager, judge_server)
    client = as_user(manager)

    refused = client.post(f"{URL}/correct/tunings", json.dumps({}), content_type="application/json")

    assert refused.status_code == 400
    said = refused.json()["override"][0]
    assert "The reviewers agree on correctness with Cohen's kappa 0.00 on the 12 requests" in said
    assert "would teach the judge noise" in said
    overridden = client.post(
        f"{URL}/correct/tunings", json.dumps({"override": True}), content_type="application/json"
    )
    assert overridden.status_code == 202, overridden.content


def test_only_an_llm_judge_of_a_criterion_the_reviewers_label_can_be_tuned(
    app, manager, as_user, judge_server
):
    services.create_judge(
        app=app,
        user=manager,
        name="safe",
        kind="llm",
        metric="safety",
        **judge_model.settings_of(judge_server),
    )
    services.create_judge(app=app, user=manager, name="f1", kind="reference")
    client = as_user(manager)

    for name in ("safe", "f1"):
        refused = client.post(f"{URL}/{name}/tunings", json.dumps({}), content_type="application/json")
        assert refused.status_code == 400
        assert "Tuning needs an LLM judge of a criterion the reviewers label" in refused.json()["judge"][0]
    assert client.post(f"{URL}/safe/tunings", "[1]", content_type="application/json").status_code == 400


def test_tuning_with_nothing_to_learn_from_says_so(app, manager, as_user, judge_server):
    llm_judge(app, manager, judge_server)

    refused = as_user(manager).post(f"{URL}/correct/tunings", json.dumps({}), content_type="application/json")

    assert refused.status_code == 400
    assert "No reviewer has labelled a request for correctness" in refused.json()["judge"][0]
