"""The chat screen in a real browser (Debian's chromium through Playwright) on the live server."""

import re
import socket

import pytest
from playwright.sync_api import expect

from reviewapp.catalog.models import App
from reviewapp.requestlog.models import Request
from tests.chains.openai_server import OpenAIServer

pytestmark = pytest.mark.browser


def send(page, text):
    page.get_by_label("Your question").fill(text)
    page.get_by_test_id("send").click()


def test_a_querier_chats_two_turns_with_the_demo_chain(page_for, querier, app, demo_model_uri):
    page = page_for(querier)
    page.goto("/apps/support-bot/chat/")

    send(page, "How do I rotate an API token?")
    first = page.get_by_test_id("turn").nth(0)
    expect(first.get_by_test_id("answer")).to_contain_text("docs://reviewapp/api#tokens", timeout=60_000)
    expect(first.get_by_test_id("chunk").first).to_be_visible()
    expect(first.get_by_test_id("chunk-doc-uri").first).to_have_text("docs://reviewapp/api#tokens")
    expect(first.get_by_test_id("feedback-panel")).to_be_visible()
    expect(page.get_by_label("Your question")).to_have_value("")
    expect(page.get_by_test_id("conversation-link")).to_have_text(["How do I rotate an API token?"])
    expect(page).to_have_url(re.compile(r"\?c=[0-9a-f-]{36}$"))

    send(page, "How do I give feedback on a retrieved chunk?")
    second = page.get_by_test_id("turn").nth(1)
    expect(second.get_by_test_id("answer")).to_contain_text("From the documentation", timeout=60_000)
    expect(second.get_by_test_id("chunk").first).to_be_visible()

    # One conversation, two turns, the second sent with the first as history.
    rows = list(Request.objects.order_by("created_at"))
    assert [r.status for r in rows] == ["ok", "ok"]
    assert rows[0].conversation_id == rows[1].conversation_id
    assert len(rows[1].messages) == 3
    expect(page.get_by_test_id("conversation-link")).to_have_count(1)

    # A reload shows the same conversation; the chunk passage opens.
    page.reload()
    expect(page.get_by_test_id("turn")).to_have_count(2)
    chunk = page.get_by_test_id("turn").nth(0).get_by_test_id("chunk").first
    chunk.locator("summary").click()
    expect(chunk.get_by_test_id("chunk-content")).to_contain_text("token")

    # A new conversation starts empty, and the old one is still listed.
    page.get_by_test_id("new-conversation").click()
    expect(page.get_by_test_id("turn")).to_have_count(0)
    expect(page.get_by_test_id("conversation-link")).to_have_count(1)
    page.get_by_test_id("conversation-link").click()
    expect(page.get_by_test_id("turn")).to_have_count(2)


def test_tokens_appear_in_the_page_as_they_are_streamed(page_for, querier, app):
    with OpenAIServer() as server:
        server.chunk_delay = 0.25
        App.objects.filter(pk=app.pk).update(adapter=App.Adapter.HTTP, adapter_config={"url": server.url})
        page = page_for(querier)
        page.goto("/apps/support-bot/chat/")

        send(page, "one two three four five six")
        answer = page.get_by_test_id("answer")
        # Part of the answer is on the page while the rest is still coming.
        expect(answer).to_contain_text("Echo (1", timeout=5_000)
        assert "six" not in answer.text_content()
        expect(answer).to_have_text("Echo (1 messages): one two three four five six", timeout=10_000)
        expect(page.get_by_test_id("feedback-panel")).to_be_visible()


def test_html_in_an_answer_stays_inert(page_for, querier, app):
    with OpenAIServer() as server:
        App.objects.filter(pk=app.pk).update(adapter=App.Adapter.HTTP, adapter_config={"url": server.url})
        page = page_for(querier)
        page.goto("/apps/support-bot/chat/")
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        send(page, "<img src=x onerror=alert(1)>")

        expect(page.get_by_test_id("answer")).to_contain_text("<img src=x onerror=alert(1)>")
        expect(page.get_by_test_id("feedback-panel")).to_be_visible()
        assert page.locator("#turns img").count() == 0
        assert dialogs == []


def test_a_failing_chain_shows_the_message_and_retry_keeps_the_text(page_for, querier, app):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    App.objects.filter(pk=app.pk).update(
        adapter=App.Adapter.HTTP, adapter_config={"url": f"http://127.0.0.1:{dead}"}
    )
    page = page_for(querier)
    page.goto("/apps/support-bot/chat/")

    send(page, "Is my question kept?")

    error = page.get_by_test_id("turn-error")
    expect(error).to_contain_text("The app could not be reached. Try again in a moment.")
    # A reviewer is spared the address and errno.
    assert "127.0.0.1" not in error.text_content() and error.get_by_test_id("error-details").count() == 0
    expect(page.get_by_label("Your question")).to_have_value("Is my question kept?")
    assert Request.objects.get().status == "error"

    with OpenAIServer() as server:
        App.objects.filter(pk=app.pk).update(adapter_config={"url": server.url})
        page.get_by_test_id("retry").click()

        expect(page.get_by_test_id("answer")).to_have_text("Echo (1 messages): Is my question kept?")
        expect(page.get_by_test_id("turn-error")).to_have_count(0)
        expect(page.get_by_label("Your question")).to_have_value("")
    assert [r.status for r in Request.objects.order_by("created_at")] == ["error", "ok"]


def test_an_empty_question_is_refused_in_place(page_for, querier, app):
    page = page_for(querier)
    page.goto("/apps/support-bot/chat/")

    page.get_by_label("Your question").fill("   ")
    page.get_by_test_id("send").click()

    expect(page.get_by_test_id("chat-error")).to_have_text("Type a question first.")
    expect(page.get_by_test_id("turn")).to_have_count(0)
    assert Request.objects.count() == 0
