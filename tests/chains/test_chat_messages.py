"""The chain contract's messages: one check, naming what is wrong and where."""

import pytest
from django.core.exceptions import ValidationError

from reviewapp.chains.messages import (
    MAX_MESSAGE_BYTES,
    MAX_MESSAGES,
    ROLES,
    check_messages,
    check_question,
)

HI = {"role": "user", "content": "hi"}


def says(check, messages, **limits) -> str:
    with pytest.raises(ValidationError) as caught:
        check(messages, **limits)
    return " ".join(caught.value.messages)


def test_it_accepts_a_conversation_in_every_role():
    check_messages([{"role": role, "content": "text"} for role in ROLES])


def test_it_accepts_openai_text_parts():
    check_question([{"role": "user", "content": [{"type": "text", "text": "hi"}]}])


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ("hi", "messages must be a list"),
        ({"messages": [HI]}, "messages must be a list"),
        ([], "messages must not be empty"),
        ([HI, "hi"], "messages[1] must be an object with role and content"),
        ([HI, {"content": "hi"}], "messages[1].role must be one of system, user, assistant, tool, developer"),
        ([{"role": "robot", "content": "hi"}], "messages[0].role must be one of"),
        ([HI, HI, {"role": "user"}], "messages[2].content must be a string"),
        ([{"role": "user", "content": 42}], "messages[0].content must be a string"),
        ([{"role": "user", "content": []}], "messages[0].content must be a string"),
        ([{"role": "user", "content": [{"type": "image_url"}]}], "messages[0].content must be a string"),
    ],
)
def test_it_names_the_message_at_fault(messages, message):
    assert message in says(check_messages, messages)


def test_it_limits_the_number_of_messages():
    check_messages([HI] * MAX_MESSAGES)

    assert says(check_messages, [HI] * (MAX_MESSAGES + 1)) == f"at most {MAX_MESSAGES} messages, not 201"


def test_it_limits_the_bytes_of_the_messages_counting_utf8():
    overhead = len('[{"role": "user", "content": ""}]')
    check_messages([{"role": "user", "content": "x" * (MAX_MESSAGE_BYTES - overhead)}])

    # Two bytes each in UTF-8: half as many characters are over the limit.
    message = says(check_messages, [{"role": "user", "content": "é" * (MAX_MESSAGE_BYTES // 2)}])

    assert message.startswith("messages are ") and message.endswith(f"the limit is {MAX_MESSAGE_BYTES}")


def test_limits_of_none_are_not_checked():
    check_messages(
        [{"role": "user", "content": "x" * MAX_MESSAGE_BYTES}] * 300, max_messages=None, max_bytes=None
    )


def test_a_question_is_the_users_and_says_something():
    check_question([{"role": "system", "content": "Be brief."}, HI])

    assert says(check_question, [HI, {"role": "assistant", "content": "hello"}]) == (
        "the last message must have role user"
    )
    assert says(check_question, [{"role": "user", "content": "  "}]) == "the last user message is empty"
    assert (
        says(check_question, [{"role": "tool"}])
        == "messages[0].content must be a string (or a list of text parts)"
    )
