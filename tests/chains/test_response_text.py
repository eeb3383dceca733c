"""One reading of a chain's output as the response, for the HTTP adapter, MLflow models and imports."""

import pytest

from reviewapp.chains.base import ChainError, NoResponse, output_usage, response_text


class Completion:
    """Like an openai / pydantic object."""

    def model_dump(self):
        return {"choices": [{"message": {"role": "assistant", "content": "dumped"}}]}


@pytest.mark.parametrize(
    ("output", "text"),
    [
        ("plain", "plain"),
        ("", ""),
        (["only item"], "only item"),
        (("only item",), "only item"),
        ({"predictions": ["wrapped"]}, "wrapped"),
        ({"predictions": {"choices": [{"message": {"content": "wrapped chat"}}]}}, "wrapped chat"),
        ([{"choices": [{"message": {"content": "listed chat"}}]}], "listed chat"),
        (
            {
                "choices": [
                    {"message": {"role": "assistant", "content": "first"}},
                    {"message": {"content": "2nd"}},
                ]
            },
            "first",
        ),
        ({"choices": [{"text": "completion"}]}, "completion"),
        ({"choices": [{"delta": {"content": "a chunk"}}]}, "a chunk"),
        (
            {
                "choices": [
                    {"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}
                ]
            },
            "ab",
        ),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}, "a"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": None}]}, ""),
        ({"content": "c"}, "c"),
        ({"response": "r"}, "r"),
        ({"output": "o"}, "o"),
        ({"text": "t"}, "t"),
        (Completion(), "dumped"),
    ],
)
def test_it_takes_a_string_or_the_first_choice_of_a_chat_completion(output, text):
    assert response_text(output) == text


@pytest.mark.parametrize(
    ("output", "shape"),
    [
        ({"score": 0.3}, "a JSON object with keys score"),
        ({"choices": ["not a choice"]}, "a JSON object with keys choices"),
        ({"choices": [{"message": {"content": 42}}]}, "a JSON object with keys choices"),
        (
            {"messages": [{"role": "assistant", "content": {"secret": "x"}}]},
            "a JSON object with keys messages",
        ),
        (["one", "two"], "a JSON list of 2 items"),
        (None, "null"),
    ],
)
def test_output_without_a_response_is_described_by_its_shape_never_its_content(output, shape):
    with pytest.raises(NoResponse) as caught:
        response_text(output)

    assert str(caught.value) == f"The chain's answer was neither a string nor a chat completion: {shape}"


def test_no_response_is_a_chain_error_for_adapters_and_a_value_error_for_importers():
    assert issubclass(NoResponse, ChainError) and issubclass(NoResponse, ValueError)


def responses_output(*items, usage=None):
    return {"object": "response", "output": list(items), **({"usage": usage} if usage else {})}


def message(text, role="assistant"):
    return {"type": "message", "role": role, "id": "m", "content": [{"type": "output_text", "text": text}]}


CALL = {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"}
RESULT = {"type": "function_call_output", "call_id": "c1", "output": "found"}


@pytest.mark.parametrize(
    "items, text",
    [
        ([message("Hello "), message("world")], "Hello world"),
        ([message("Let me look."), CALL, RESULT, message("Found it.")], "Found it."),
        ([{"type": "reasoning", "summary": []}, message("Answer")], "Answer"),
        ([message("Checking."), CALL], ""),
    ],
)
def test_a_responses_agent_answer_is_the_text_after_its_last_tool_step(items, text):
    assert response_text(responses_output(*items)) == text
    assert response_text({"predictions": responses_output(*items)}) == text


def test_usage_is_read_from_chat_completions_and_responses_answers():
    completion = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}

    assert output_usage(completion) == {"request_tokens": 3, "response_tokens": 2, "total_tokens": 5}
    assert output_usage(
        responses_output(usage={"input_tokens": 7, "output_tokens": 1, "total_tokens": 9})
    ) == {
        "request_tokens": 7,
        "response_tokens": 1,
        "total_tokens": 9,
    }
    assert output_usage({"usage": {"prompt_tokens": "x"}}) == {} and output_usage("text") == {}
