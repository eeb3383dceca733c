"""One reading of a chain's output as the response, for the HTTP adapter, MLflow models and imports."""

import pytest

from reviewapp.chains.base import ChainError, NoResponse, response_text


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
