"""The chat's own parts (the list of conversations, the turns, example questions, error details and
the message box) have no serious axe-core violation, at desktop and phone widths."""

import socket

import pytest

from reviewapp.catalog.models import App
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import run_turn
from tests import factories
from tests.browser_checks import serious_violations

pytestmark = pytest.mark.browser

CHAT_PARTS = ("#conversations", ".chat-turn > .msg", ".chat-error-details", ".chat-empty", "#chat-form")


@pytest.mark.parametrize("width", [1280, 390])
def test_an_empty_chat_with_example_questions(page_for, manager, app, width):
    App.objects.filter(pk=app.pk).update(example_questions=["How do I rotate an API token?", "Who reviews?"])
    factories.make_request(app, user=manager, question="An older conversation")
    page = page_for(manager)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/apps/support-bot/chat/")

    assert serious_violations(page, *CHAT_PARTS) == []


@pytest.mark.parametrize("width", [1280, 390])
def test_a_conversation_with_a_folded_answer_and_a_failed_turn(page_for, manager, app, width):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    first = factories.make_request(app, user=manager, response="A long answer.\n" * 80)
    App.objects.filter(pk=app.pk).update(
        adapter=App.Adapter.HTTP, adapter_config={"url": f"http://127.0.0.1:{port}"}
    )
    failed = run_turn(
        app=App.objects.get(pk=app.pk),
        user=manager,
        source=Request.Source.REVIEW_APP,
        messages=[{"role": "user", "content": "Anyone there?"}],
        conversation_id=first.conversation_id,
    )
    assert failed.request.status == Request.Status.ERROR
    page = page_for(manager)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"/apps/support-bot/chat/?c={first.conversation_id}")
    page.get_by_test_id("error-details").locator("summary").click()

    assert page.get_by_test_id("show-more").count() == 1
    assert serious_violations(page, *CHAT_PARTS) == []
