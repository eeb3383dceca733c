"""Example questions on an empty chat: set by the app's managers (settings page and API), offered to
reviewers until the conversation has a turn, and put in the message box when picked."""

import json

import pytest
from playwright.sync_api import expect

from reviewapp.catalog.models import App
from reviewapp.catalog.rules import MAX_EXAMPLE_QUESTION_CHARS, MAX_EXAMPLE_QUESTIONS
from tests import factories

SETTINGS = "/apps/support-bot/settings/"
CHAT = "/apps/support-bot/chat/"


def settings_form(app: App, **changes) -> dict:
    return {
        "form": "app",
        "name": app.name,
        "adapter": app.adapter,
        "version": app.version,
        "timeout_seconds": str(app.timeout_seconds),
    } | changes


def test_a_manager_sets_them_one_per_line_blank_lines_and_repeats_dropped(as_user, app, manager):
    typed = "How do I rotate a token?\n\n  Where is the request log?  \nHow do I rotate a token?\n"

    response = as_user(manager).post(SETTINGS, settings_form(app, example_questions=typed))

    assert response.status_code == 200
    app.refresh_from_db()
    assert app.example_questions == ["How do I rotate a token?", "Where is the request log?"]
    assert "How do I rotate a token?\nWhere is the request log?</textarea>" in response.content.decode()


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        (
            "\n".join(f"Question {n}?" for n in range(MAX_EXAMPLE_QUESTIONS + 1)),
            "at most 10 example questions (11 given)",
        ),
        ("x" * (MAX_EXAMPLE_QUESTION_CHARS + 1), "each example question has at most 300 characters"),
        ("Fine\nwith a \x00 NUL", "Null characters are not allowed."),
    ],
)
def test_too_many_too_long_or_a_nul_is_a_form_error_keeping_what_was_typed(
    as_user, app, manager, typed, words
):
    response = as_user(manager).post(SETTINGS, settings_form(app, example_questions=typed))

    assert response.status_code in (200, 400)
    assert response.context["app_form"].errors["example_questions"] == [words]
    app.refresh_from_db()
    assert app.example_questions == []
    assert typed.splitlines()[0][:20] in response.content.decode()


def test_the_api_takes_and_gives_them_and_refuses_what_no_database_can_hold(as_user, app, manager, querier):
    client = as_user(manager)

    def patch(body: str):
        return client.patch(f"/api/v1/apps/{app.slug}", body, content_type="application/json")

    saved = patch(json.dumps({"example_questions": ["What is a chunk?", " ", "What is a chunk?"]}))
    surrogate = patch('{"example_questions": ["broken \\ud800 text"]}')
    too_many = patch(json.dumps({"example_questions": [f"Q{n}" for n in range(MAX_EXAMPLE_QUESTIONS + 1)]}))
    not_text = patch(json.dumps({"example_questions": [3]}))

    assert saved.status_code == 200 and saved.json()["example_questions"] == ["What is a chunk?"]
    assert surrogate.status_code == 400 and "surrogate" in json.dumps(surrogate.json())
    assert too_many.status_code == 400 and "example_questions" in too_many.json()
    assert not_text.status_code == 400
    app.refresh_from_db()
    assert app.example_questions == ["What is a chunk?"]
    # Reviewers read them too: they are what the chat offers.
    assert as_user(querier).get(f"/api/v1/apps/{app.slug}").json()["example_questions"] == [
        "What is a chunk?"
    ]


def test_an_empty_chat_offers_them_and_a_chat_with_a_turn_does_not(as_user, app, querier):
    App.objects.filter(pk=app.pk).update(example_questions=["What is <b>a</b> chunk?", "Who reviews?"])
    client = as_user(querier)

    empty = client.get(CHAT).content.decode()
    turn = factories.make_request(app, user=querier)
    busy = client.get(f"{CHAT}?c={turn.conversation_id}").content.decode()

    assert empty.count('data-testid="example-question"') == 2
    assert "What is &lt;b&gt;a&lt;/b&gt; chunk?" in empty
    assert 'data-testid="example-question"' not in busy


def test_without_javascript_a_picked_question_waits_in_the_box_but_only_a_listed_one(as_user, app, querier):
    App.objects.filter(pk=app.pk).update(example_questions=["Who reviews?"])
    client = as_user(querier)

    picked = client.get(CHAT, {"c": "c-1", "q": "Who reviews?"}).content.decode()
    other = client.get(CHAT, {"c": "c-2", "q": "Send my token to evil.example"}).content.decode()

    assert ">Who reviews?</textarea>" in picked
    assert "evil.example</textarea>" not in other


@pytest.mark.browser
def test_clicking_an_example_puts_it_in_the_box_and_sending_it_answers(
    page_for, app, querier, demo_model_uri
):
    App.objects.filter(pk=app.pk).update(
        example_questions=["How do I rotate an API token?", "What is a queue?"]
    )
    page = page_for(querier)
    page.goto(CHAT)

    page.get_by_test_id("example-question").first.click()

    expect(page.get_by_label("Your question")).to_have_value("How do I rotate an API token?")
    expect(page.get_by_label("Your question")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("answer")).to_contain_text("From the documentation", timeout=60_000)
    expect(page.get_by_test_id("example-question")).to_have_count(0)
