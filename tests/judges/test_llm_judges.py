"""LLM judges: MLflow's judge code calling a real judge model on loopback (tests.judges.judge_model:
"no" when the prompt says "wrong"), with the manager's key, through the egress policy; failures
recorded as errors with the raw reply, retried within a bound, judged again by the next run."""

import json
import threading
import time

import pytest
from django.test import override_settings
from mlflow.genai.judges.prompts import correctness

from reviewapp.exports.selection import Filters
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
from reviewapp.judges import online, runs, services
from reviewapp.judges.agreement import agreement
from reviewapp.judges.models import JudgeResult
from reviewapp.judges.runs import run
from tests import factories
from tests.chains.openai_server import OpenAIServer
from tests.exports.helpers import wait_until
from tests.judges import judge_model
from tests.judges.helpers import chunks
from tests.judges.test_online import turn

URL = "/api/v1/apps/support-bot/judges"
CORRECTION = "Tokens expire after 90 days."


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def reviewed(app, manager, response, rating, correction="", passages=None):
    request = factories.make_request(app, response=response, chunks=passages or chunks())
    factories.make_assessment(request, manager, rating, corrected_response=correction)
    return request


@pytest.fixture
def items(app, manager):
    """Requests the reviewers labelled for correctness, and the rule's verdict on each."""
    return {
        "approved": reviewed(app, manager, "Open Settings, then API tokens.", "positive"),
        "approved_too": reviewed(app, manager, "Rotate it in Settings.", "positive"),
        "said_wrong": reviewed(app, manager, "Nothing here is wrong: tokens expire.", "positive"),
        "corrected": reviewed(app, manager, "That is wrong, tokens never expire.", "negative", CORRECTION),
        "missed": reviewed(app, manager, "Tokens last forever.", "negative", CORRECTION),
        "no_correction": reviewed(app, manager, "Tokens last a year.", "negative"),
    }


def run_once(judge, manager):
    return run_job(str(services.start_run(judge=judge, user=manager, filters=Filters()).pk), run)


def llm_judge(app, manager, server, name="correct", metric="correctness", **settings):
    return services.create_judge(
        app=app,
        user=manager,
        name=name,
        kind="llm",
        metric=metric,
        **{**judge_model.settings_of(server), **settings},
    )


def test_an_llm_judge_asks_its_model_with_mlflows_prompt_and_records_what_it_said(
    app, manager, judge_server, items
):
    judge = llm_judge(app, manager, judge_server)

    job = run_once(judge, manager)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert (job.result["judged"], job.result["skipped"], job.result["errors"]) == (5, 1, 0)
    assert job.result["skipped_because"] == {"no correction to compare with": 1}
    values = {r.request_id: r.value for r in JudgeResult.objects.all()}
    failed = {items["said_wrong"].pk, items["corrected"].pk}
    assert values == {
        items[n].pk: "fail" if items[n].pk in failed else "pass" for n in items if n != "no_correction"
    }
    result = JudgeResult.objects.get(request=items["corrected"])
    assert (result.source_type, result.model, result.rationale) == (
        "LLM_JUDGE",
        judge_model.MODEL,
        "It says wrong.",
    )
    assert (result.input_tokens, result.output_tokens, result.score) == (120, 9, 0.0)
    # MLflow's own correctness prompt, with the reviewers' correction as the expected response.
    asked = judge_model.prompts(judge_server)
    assert len(asked) == 5 and all(correctness.CORRECTNESS_PROMPT_INSTRUCTIONS[:60] in p for p in asked)
    assert sum(CORRECTION in p for p in asked) == 2
    assert {r["body"]["model"] for r in judge_server.requests} == {judge_model.MODEL}
    assert all(r["body"]["temperature"] == 0 for r in judge_server.requests)


def test_an_llm_judge_is_measured_against_the_reviewers_labels(app, manager, judge_server, items):
    judge = llm_judge(app, manager, judge_server)
    run_once(judge, manager)

    measured = agreement(judge.current)

    # Reviewers pass approved, approved_too, said_wrong; fail corrected, missed. The judge fails
    # said_wrong and corrected. Observed agreement 3/5; by chance 3/5·3/5 + 2/5·2/5 = 0.52;
    # kappa = (0.6 − 0.52) / (1 − 0.52) = 1/6.
    assert measured.criterion == "correctness" and measured.compared == 5
    assert measured.cells == {"pass": {"pass": 2, "fail": 1}, "fail": {"pass": 1, "fail": 1}}
    assert measured.kappa == pytest.approx(1 / 6) and measured.accuracy == pytest.approx(0.6)
    assert measured.precision == pytest.approx(0.5) and measured.recall == pytest.approx(0.5)
    assert measured.disagreements == [str(items["said_wrong"].pk), str(items["missed"].pk)]


def test_a_custom_judge_and_guidelines_send_the_managers_own_words(app, manager, judge_server, items):
    custom = llm_judge(
        app,
        manager,
        judge_server,
        name="polite",
        metric="custom",
        instructions="Is {{ outputs }} a polite answer to {{ inputs }}?",
    )
    assert run_once(custom, manager).result["judged"] == 6  # reads no correction: every request
    system = judge_server.requests[-1]["body"]["messages"][0]["content"]
    assert "Is {{ outputs }} a polite answer to {{ inputs }}?" in system
    assert JudgeResult.objects.filter(version=custom.current, value="fail").count() == 2

    judge_server.requests.clear()
    rules = llm_judge(
        app,
        manager,
        judge_server,
        name="rules",
        metric="guidelines",
        instructions="Never say wrong.\nBe brief.",
    )
    assert run_once(rules, manager).result["judged"] == 6
    # The guideline itself holds the rule's word, so every verdict is "no".
    assert all("Never say wrong." in p and "Be brief." in p for p in judge_model.prompts(judge_server))
    assert set(JudgeResult.objects.filter(version=rules.current).values_list("value", flat=True)) == {"fail"}


def test_chunk_relevance_asks_once_per_passage_and_scores_the_relevant_share(app, manager, judge_server):
    passages = [
        {"position": 0, "doc_uri": "docs://a", "content": "Tokens rotate in Settings."},
        {"position": 1, "doc_uri": "docs://b", "content": "This passage is wrong about it."},
    ]
    reviewed(app, manager, "Rotate it in Settings.", "positive", passages=passages)
    judge = llm_judge(app, manager, judge_server, name="chunks", metric="chunk_relevance")

    job = run_once(judge, manager)

    result = JudgeResult.objects.get()
    assert job.result["judged"] == 1 and len(judge_server.requests) == 2
    assert (result.score, result.value) == (0.5, "pass")  # passes at 50%
    assert result.rationale.startswith("1 of 2 passages relevant.")
    assert (result.input_tokens, result.output_tokens) == (240, 18)


def test_a_judge_model_that_is_down_is_retried_then_recorded_as_errors_and_judged_again_later(
    app, manager, judge_server, items
):
    judge = llm_judge(app, manager, judge_server, name="safe", metric="safety")
    judge_server.fail_status = 503

    stopped = run_once(judge, manager)

    # Each request tried 3 times (JUDGE_ATTEMPTS), then an error with what the endpoint said; six
    # in a row stop the run (FAILING_IN_A_ROW is 5, and the batch of six is recorded whole).
    assert stopped.status == Job.Status.FAILED
    assert "failed 6 requests in a row" in stopped.error and "the model is overloaded" in stopped.error
    assert len(judge_server.requests) == 6 * 3
    errors = JudgeResult.objects.filter(value="error")
    assert errors.count() == 6
    assert all("the model is overloaded" in e.rationale and "after 3 attempts" in e.rationale for e in errors)

    judge_server.fail_status = 0
    again = run_once(judge, manager)

    assert again.status == Job.Status.SUCCEEDED and again.result["judged"] == 6
    assert JudgeResult.objects.count() == 6 and not JudgeResult.objects.filter(value="error").exists()


def test_a_reply_that_is_no_verdict_is_an_error_kept_with_the_raw_reply(app, manager, as_user, judge_server):
    reviewed(app, manager, "Open Settings.", "positive")
    reviewed(app, manager, "Open Settings, then tokens.", "positive")
    judge = llm_judge(app, manager, judge_server, name="safe", metric="safety")
    judge_server.reply = lambda messages: "Sure! It looks fine to me."

    job = run_once(judge, manager)

    assert job.status == Job.Status.SUCCEEDED and job.result["errors"] == 2
    assert len(judge_server.requests) == 2  # an answer that is no verdict is not asked again
    error = JudgeResult.objects.filter(value="error").first()
    assert "Sure! It looks fine to me." in error.rationale
    page = as_user(manager).get(f"/apps/support-bot/judges/{judge.name}/").content.decode()
    assert "Sure! It looks fine to me." in page and 'data-testid="error-rate">2 (100%)' in page
    assert as_user(manager).get(f"{URL}/safe").json()["results"]["error_rate"] == 1.0

    judge_server.reply = lambda messages: json.dumps({"result": "maybe", "rationale": "unsure"})
    JudgeResult.objects.all().delete()
    run_once(judge, manager)
    assert "answered 'maybe', which is no yes or no" in JudgeResult.objects.first().rationale


def test_the_servers_own_openai_key_never_reaches_a_judge_endpoint(app, manager, judge_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "the-servers-own-secret")
    judge_server.required_header = None
    reviewed(app, manager, "Open Settings.", "positive")
    judge = llm_judge(app, manager, judge_server, name="safe", metric="safety", key_env="")

    assert run_once(judge, manager).result["judged"] == 1
    assert [r["headers"].get("Authorization") for r in judge_server.requests] == [None]


def test_a_judge_model_the_policy_refuses_is_never_connected_not_even_by_a_redirect(
    app, manager, judge_server
):
    reviewed(app, manager, "Open Settings.", "positive")
    judge = llm_judge(app, manager, judge_server, name="safe", metric="safety")
    port = judge_server.server_address[1]

    with override_settings(CHAIN_URL_ALLOW=[]):
        run_once(judge, manager)
    assert judge_server.requests == []
    assert "Refused to connect to 127.0.0.1: it is a loopback address" in JudgeResult.objects.get().rationale

    with OpenAIServer() as elsewhere, override_settings(CHAIN_URL_ALLOW=[f"127.0.0.1:{port}"]):
        target = f"{elsewhere.url}/v1/chat/completions"
        judge_server.raw_answer = (307, {"Location": target}, b"")
        JudgeResult.objects.all().delete()
        run_once(judge, manager)
        assert len(judge_server.requests) == 1 and elsewhere.requests == []
    assert "Refused to connect" in JudgeResult.objects.get().rationale


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"model": ""}, "model", "Give the judge model"),
        ({"endpoint_url": "ftp://example.com/v1"}, "endpoint_url", "http:// or https://"),
        ({"endpoint_url": "http://169.254.169.254/v1"}, "endpoint_url", "may not call that address"),
        ({"endpoint_url": "", "model": "openai:/gpt-4o"}, "model", "JUDGE_MODEL_PROVIDERS"),
        ({"key_env": "SECRET_KEY"}, "key_env", "one of this server's own settings"),
        ({"key_env": "HOME"}, "key_env", "CHAIN_SECRET_"),
        ({"key_env": "CHAIN_SECRET_NOT_SET_ANYWHERE"}, "key_env", "is not set on this server"),
        ({"key_env": "sk-live-the-key-itself!"}, "key_env", "The NAME of an environment variable"),
        ({"metric": "custom"}, "instructions", "Give the judge's instructions"),
        ({"metric": "custom", "instructions": "Judge {{ trace }}"}, "instructions", "{{ inputs }}"),
        ({"metric": "guidelines"}, "instructions", "one per line"),
        ({"metric": "safety", "sample_percent": 101}, "sample_percent", "less than or equal to 100"),
        ({"metric": "correctness", "sample_percent": 10}, "sample_percent", "needs the reviewers' feedback"),
        ({"kind": "groundedness", "metric": "lexical"}, "model", "Only an LLM judge has model"),
    ],
)
def test_bad_llm_judge_settings_are_400s_naming_the_field(
    app, manager, as_user, judge_server, body, field, says
):
    base = {"name": "j", "kind": "llm", "metric": "safety", **judge_model.settings_of(judge_server)}

    refused = post(as_user(manager), URL, {**base, **body})

    assert refused.status_code == 400, refused.content
    assert says in " ".join(refused.json()[field])


def test_each_change_of_an_llm_judge_is_a_new_version_and_its_key_is_never_shown(
    app, manager, as_user, judge_server
):
    client = as_user(manager)
    made = post(
        client,
        URL,
        {
            "name": "j",
            "kind": "llm",
            "metric": "custom",
            "instructions": "Is {{ outputs }} kind?",
            **judge_model.settings_of(judge_server),
        },
    )
    assert made.status_code == 201, made.content

    def patch(body):
        return client.patch(f"{URL}/j", json.dumps(body), content_type="application/json")

    assert patch({"instructions": "Is {{ outputs }} kind and brief?"}).json()["version"]["number"] == 2
    assert patch({"instructions": "Is {{ outputs }} kind and brief?"}).json()["version"]["number"] == 2
    changed = patch({"model": "rule-judge-2"}).json()
    assert changed["version"]["number"] == 3 and changed["version"]["instructions"].endswith("brief?")
    assert judge_model.KEY not in json.dumps(changed) and changed["version"]["key_env"] == judge_model.KEY_ENV
    # A change to a criterion that reads the correction cannot be made while the judge samples new
    # turns; stopping the sampling in the same change is accepted.
    assert patch({"sample_percent": 50}).status_code == 200
    assert patch({"metric": "correctness"}).status_code == 400
    both = patch({"metric": "correctness", "sample_percent": 0})
    assert both.status_code == 200 and both.json()["version"]["number"] == 4


@pytest.mark.worker
def test_an_llm_judge_judges_sampled_live_turns_with_a_worker(app, manager, judge_server, celery_worker):
    judge = llm_judge(
        app, manager, judge_server, name="safe", metric="safety", sample_percent=100, daily_cap=5
    )

    first, second = turn(app, manager, "Rotate it in Settings."), turn(app, manager, "That is wrong.")

    wait_until(lambda: JudgeResult.objects.filter(online=True).count() == 2)
    values = dict(JudgeResult.objects.values_list("request_id", "value"))
    assert values == {first.pk: "pass", second.pk: "fail"}
    assert set(JudgeResult.objects.values_list("source_type", flat=True)) == {"LLM_JUDGE"}
    assert judge.days.get().calls == 2
    assert online.judge_turn(judge.pk, str(first.pk)) == "already judged"


def test_the_daily_cap_counts_calls_and_a_skip_gives_its_call_back(app, manager, judge_server):
    judge = llm_judge(
        app, manager, judge_server, name="grounded", metric="groundedness", sample_percent=100, daily_cap=1
    )
    with_passages = turn(app, manager, "Rotate it in Settings.")
    bare = factories.make_request(app, response="Hello.", chunks=[])
    later = turn(app, manager, "Open Settings.")

    assert online.judge_turn(judge.pk, str(bare.pk)) == "no passage retrieved"
    assert online.judge_turn(judge.pk, str(with_passages.pk)) == "pass"
    assert online.judge_turn(judge.pk, str(later.pk)) == "over the daily cap"
    assert judge.days.get().calls == 1 and len(judge_server.requests) == 1


def test_runs_call_the_judge_model_a_few_at_a_time(app, manager, judge_server):
    in_flight, most = [0], [0]
    lock = threading.Lock()

    def slow_verdict(messages):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.2)  # long enough for the other calls of the batch to arrive meanwhile
        with lock:
            in_flight[0] -= 1
        return judge_model.verdict(messages)

    judge_server.reply = slow_verdict
    for n in range(8):
        reviewed(app, manager, f"Answer {n}.", "positive")
    judge = llm_judge(app, manager, judge_server, name="safe", metric="safety")

    assert run_once(judge, manager).result["judged"] == 8
    assert most[0] == runs.LLM_CALLS_AT_ONCE


def test_chunk_relevance_is_measured_against_the_share_of_passages_the_reviewers_found_relevant(
    app, manager, judge_server
):
    passages = [
        {"position": 0, "doc_uri": "docs://a", "content": "Tokens rotate in Settings."},
        {"position": 1, "doc_uri": "docs://b", "content": "This passage is wrong about it."},
    ]
    both = [{"position": 0, "rating": "relevant"}, {"position": 1, "rating": "relevant"}]
    neither = [{"position": 0, "rating": "not_relevant"}, {"position": 1, "rating": "not_relevant"}]
    agreed = reviewed(app, manager, "Rotate it in Settings.", "positive", passages=passages)
    factories.make_assessment(agreed, manager, "positive", retrieval_assessments=both)
    missed = reviewed(app, manager, "Rotate it in Settings.", "positive", passages=passages)
    factories.make_assessment(missed, manager, "positive", retrieval_assessments=neither)
    judge = llm_judge(app, manager, judge_server, name="chunks", metric="chunk_relevance")
    run_once(judge, manager)

    measured = agreement(judge.current)

    # The judge finds 1 of 2 passages relevant each time: a pass at 50%. The reviewers found both
    # relevant in one (a pass) and neither in the other (a fail).
    assert measured.criterion == "chunk_relevance" and measured.compared == 2
    assert measured.cells == {"pass": {"pass": 1, "fail": 0}, "fail": {"pass": 1, "fail": 0}}
    assert measured.disagreements == [str(missed.pk)]
