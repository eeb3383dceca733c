"""MLflow agent interfaces as chains: a ResponsesAgent, a ChatAgent and a ChatModel, each a real
models-from-code model registered in the test run's MLflow store and called through the adapter."""

import threading
import time

import pytest

from reviewapp.catalog.models import App
from reviewapp.chains import mlflow_model, tracing
from reviewapp.chains.adapters import get_adapter
from reviewapp.chains.base import ChainError, ChainResult, ChainTimeout
from reviewapp.chains.mlflow_setup import configure
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import stream_turn
from tests.chains.agent_models import finished_trace, register

QUESTION = [{"role": "user", "content": "What is the weather in Lisbon?"}]


@pytest.fixture(scope="module")
def responses_agent():
    return register("weather-agent", "responses_agent.py")


@pytest.fixture(scope="module")
def chat_agent():
    return register("ticket-agent", "chat_agent.py")


@pytest.fixture(scope="module")
def chat_model():
    return register("echo-chat-model", "chat_model.py")


def agent_app(uri: str, slug: str = "weather") -> App:
    return App(slug=slug, name=slug.title(), adapter=App.Adapter.MLFLOW, adapter_config={"model_uri": uri})


def ask(content: str) -> list[dict]:
    return [{"role": "user", "content": content}]


def streamed(uri: str, messages=QUESTION, timeout: float = 30, slug: str = "weather"):
    """The deltas with the time each arrived, and the final result."""
    deltas, result = [], None
    for item in get_adapter(agent_app(uri, slug)).stream(messages, timeout=timeout):
        if isinstance(item, ChainResult):
            result = item
        else:
            deltas.append((time.monotonic(), item))
    return deltas, result


def test_a_responses_agent_answers_with_its_final_message_and_reported_usage(responses_agent):
    result = get_adapter(agent_app(responses_agent)).invoke(QUESTION, timeout=30)

    assert result.response == "It is sunny in Lisbon."
    assert (result.request_tokens, result.response_tokens, result.total_tokens) == (11, 5, 16)
    [chunk] = result.chunks
    assert (chunk["doc_uri"], chunk["content"]) == ("notes://lisbon", "Lisbon is sunny in summer.")
    assert result.app_version == responses_agent.rsplit("/", 1)[1]
    outputs = tracing.attribute(tracing.root_span(result.trace), tracing.SPAN_OUTPUTS)
    assert [item["type"] for item in outputs["output"]] == [
        "function_call",
        "function_call_output",
        "message",
    ]


def test_a_responses_agent_streams_its_deltas_as_they_are_made(responses_agent):
    deltas, result = streamed(responses_agent)
    finished = time.monotonic()

    assert [text for _, text in deltas] == ["It ", "is ", "sunny ", "in ", "Lisbon."]
    # The model waits between its first and second delta: the first came before the model finished.
    assert finished - deltas[0][0] >= 0.3
    assert deltas[1][0] - deltas[0][0] >= 0.3
    assert result.complete and result.response == "It is sunny in Lisbon."
    assert (result.request_tokens, result.response_tokens, result.total_tokens) == (11, 5, 16)
    spans = tracing.spans(result.trace)
    root = tracing.root_span(result.trace)
    assert {tracing.span_type(s) for s in spans} >= {"CHAIN", "AGENT", "TOOL", "RETRIEVER"}
    assert all(s.get("parent_span_id") for s in spans if s is not root)
    assert result.chunks[0]["doc_uri"] == "notes://lisbon"


def test_a_chain_that_fails_part_way_gives_the_text_so_far_as_an_incomplete_answer(responses_agent):
    deltas, result = streamed(responses_agent, ask("fail midway"))

    assert [text for _, text in deltas] == ["It ", "is "]
    assert not result.complete and result.response == "It is "
    assert "the connection to the model dropped" in result.incomplete_reason
    assert configure().get_trace(result.mlflow_trace_id).info.state.value == "ERROR"


def test_a_chain_that_fails_before_any_text_is_an_error_that_keeps_its_trace(responses_agent):
    with pytest.raises(ChainError, match="the weather service is down") as failed:
        streamed(responses_agent, ask("fail"))

    assert failed.value.mlflow_trace_id and failed.value.trace
    assert configure().get_trace(failed.value.mlflow_trace_id).info.state.value == "ERROR"


def test_the_timeout_bounds_the_whole_streamed_answer(responses_agent):
    started = time.monotonic()
    deltas, result = streamed(responses_agent, ask("slow"), timeout=1)

    assert time.monotonic() - started < 2
    assert [text for _, text in deltas] == ["It "]
    assert not result.complete and "did not finish answering within 1 seconds" in result.incomplete_reason
    assert finished_trace(result.mlflow_trace_id).info.state.value == "ERROR"


def test_no_first_delta_before_the_deadline_is_a_timeout_that_keeps_the_trace_id(responses_agent):
    with pytest.raises(ChainTimeout, match="did not answer within 1 seconds") as timed_out:
        streamed(responses_agent, ask("slow to start"), timeout=1)

    assert finished_trace(timed_out.value.mlflow_trace_id).info.state.value == "ERROR"


def test_a_reader_slower_than_the_timeout_still_gets_the_answer_that_came_in_time(chat_model):
    answer = get_adapter(agent_app(chat_model, "echo")).stream(ask("hello"), timeout=1)
    first = next(answer)
    time.sleep(1.5)  # the model has long finished; only this reader is late
    *rest, result = answer

    assert result.complete and first + "".join(rest) == "Echo: hello there"


def test_an_abandoned_answer_stops_the_model_and_its_logged_turn_links_the_ended_trace(
    app, querier, responses_agent
):
    app.adapter, app.adapter_config = App.Adapter.MLFLOW, {"model_uri": responses_agent}
    turn = stream_turn(app=app, user=querier, source="review_app", messages=QUESTION)
    assert next(turn) == "It "

    turn.close()

    row = Request.objects.get(app=app)
    assert (row.status, row.response) == (Request.Status.INCOMPLETE, "It ")
    assert "abandoned" in row.error
    stored = finished_trace(row.mlflow_trace_id)
    [chain] = [s for s in stored.data.spans if s.parent_id is None]
    assert chain.status.status_code == "ERROR" and "abandoned" in chain.status.description
    assert all(s.end_time_ns for s in stored.data.spans)


def test_the_kept_trace_leaves_out_the_per_chunk_events_that_mlflow_stores(responses_agent):
    _, result = streamed(responses_agent)

    def chunk_events(spans):
        return [e for s in spans for e in s.get("events") or [] if e["name"].startswith("mlflow.chunk.item.")]

    assert chunk_events(tracing.spans(result.trace)) == []
    assert chunk_events(configure().get_trace(result.mlflow_trace_id).to_dict()["data"]["spans"])


def test_traces_go_to_the_apps_own_experiment_tagged_with_the_app(responses_agent):
    result = get_adapter(agent_app(responses_agent, slug="forecasts")).invoke(QUESTION, timeout=30)

    mlflow = configure()
    stored = mlflow.get_trace(result.mlflow_trace_id)
    experiment = mlflow.MlflowClient().get_experiment_by_name("reviewapp/forecasts")
    assert stored.info.tags[mlflow_model.APP_TAG] == "forecasts"
    assert stored.info.experiment_id == experiment.experiment_id


def test_a_chat_agent_answers_with_its_last_assistant_message_and_streams_only_that(chat_agent):
    app = agent_app(chat_agent, "tickets")
    result = get_adapter(app).invoke(ask("Is ticket 7 closed?"), timeout=30)
    deltas, streamed_result = streamed(chat_agent, ask("Is ticket 7 closed?"), slug="tickets")

    assert result.response == "The ticket is closed."
    assert [text for _, text in deltas] == ["The ", "ticket ", "is ", "closed."]
    assert streamed_result.response == "The ticket is closed."
    outputs = tracing.attribute(tracing.root_span(streamed_result.trace), tracing.SPAN_OUTPUTS)
    assert [m["role"] for m in outputs["messages"]] == ["assistant", "tool", "assistant"]
    assert outputs["messages"][0]["tool_calls"][0]["function"]["name"] == "ticket_status"


# An OpenAI-style history in which the assistant called a tool: the tool message has no `name`.
HISTORY_WITH_A_TOOL_CALL = [
    {"role": "user", "content": "What is the weather in Lisbon?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "forecast", "arguments": '{"city": "Lisbon"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "Lisbon: sunny, 24 C"},
    {"role": "assistant", "content": "It is sunny in Lisbon."},
    {"role": "user", "content": "Is ticket 7 closed?"},
]


def test_a_responses_agent_gets_earlier_tool_calls_before_their_results(responses_agent):
    result = get_adapter(agent_app(responses_agent)).invoke(HISTORY_WITH_A_TOOL_CALL, timeout=30)

    [agent] = [s for s in tracing.spans(result.trace) if tracing.span_type(s) == "AGENT"]
    items = tracing.attribute(agent, tracing.SPAN_INPUTS)["request"]["input"]
    assert [(i["type"], i.get("role") or i["call_id"]) for i in items] == [
        ("message", "user"),
        ("function_call", "call_1"),
        ("function_call_output", "call_1"),
        ("message", "assistant"),
        ("message", "user"),
    ]
    assert (items[1]["name"], items[1]["arguments"]) == ("forecast", '{"city": "Lisbon"}')


def test_a_chat_agent_takes_a_tool_message_without_a_name(chat_agent):
    result = get_adapter(agent_app(chat_agent, "tickets")).invoke(HISTORY_WITH_A_TOOL_CALL, timeout=30)

    assert result.response == "The ticket is closed."


def test_a_chat_model_streams_completion_chunks_and_its_usage_is_used(chat_model):
    result = get_adapter(agent_app(chat_model, "echo")).invoke(ask("hello"), timeout=30)
    deltas, streamed_result = streamed(chat_model, ask("hello"), slug="echo")

    assert result.response == "Echo: hello there"
    assert (result.request_tokens, result.response_tokens, result.total_tokens) == (21, 3, 24)
    assert [text for _, text in deltas] == ["Echo: ", "hello ", "there"]
    assert streamed_result.response == "Echo: hello there"


def test_loading_is_timed_apart_and_a_call_during_a_warm_up_waits_for_it_rather_than_load_again():
    uri = register("slow-to-load", "slow_to_load.py")
    mlflow_model.clear_cache()
    warmed = []
    warm_up = threading.Thread(target=lambda: warmed.append(mlflow_model.load(uri)[1]))
    warm_up.start()
    time.sleep(0.3)
    result = get_adapter(agent_app(uri)).invoke(ask("hi"), timeout=30)
    warm_up.join()
    again = get_adapter(agent_app(uri)).invoke(ask("hi"), timeout=30)

    assert result.response == "ready"
    # It waited for the rest of the warm-up's one-second load; its answer alone took less than that.
    assert result.load_ms >= 300
    assert result.latency_ms < 1000
    assert again.load_ms is None
    assert warmed == [mlflow_model.load(uri)[1]]  # one model: loaded once


def test_callers_that_load_a_model_at_once_share_one_load(tmp_path, monkeypatch):
    uri = register("slow-to-load", "slow_to_load.py")
    monkeypatch.setenv("SLOW_TO_LOAD_LOG", str(tmp_path / "loads"))

    models = both_at_once(lambda: mlflow_model.load(uri)[1])

    assert (tmp_path / "loads").read_text().splitlines() == ["loaded"]
    assert models[0] is models[1]


def test_a_load_that_fails_fails_every_caller_waiting_for_it_without_loading_again(tmp_path, monkeypatch):
    uri = register("slow-to-load", "slow_to_load.py")
    monkeypatch.setenv("SLOW_TO_LOAD_LOG", str(tmp_path / "loads"))
    monkeypatch.setenv("SLOW_TO_LOAD_FAIL", "1")

    failures = both_at_once(lambda: pytest.raises(ChainError, mlflow_model.load, uri).value)

    assert (tmp_path / "loads").read_text().splitlines() == ["loaded"]
    assert failures[0] is failures[1] and "the weights are missing" in str(failures[0])


def both_at_once(call) -> list:
    """What `call` gives in each of two threads started together."""
    results: dict[int, object] = {}
    start = threading.Barrier(2)

    def run(n: int) -> None:
        start.wait()
        results[n] = call()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return [results[0], results[1]]
