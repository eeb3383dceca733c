"""A cut-off answer in a real browser (chromium through Playwright): the partial answer, the notice
and Retry, which asks again and gets the whole answer."""

import pytest
from playwright.sync_api import expect

from reviewapp.catalog.models import App
from reviewapp.requestlog.models import Request
from tests.chains.openai_server import OpenAIServer

pytestmark = pytest.mark.browser


def test_a_cut_stream_shows_the_partial_answer_and_retry_gets_the_whole_answer(page_for, querier, app):
    with OpenAIServer() as server:
        server.cut_after = 3
        App.objects.filter(pk=app.pk).update(adapter=App.Adapter.HTTP, adapter_config={"url": server.url})
        page = page_for(querier)
        page.goto("/apps/support-bot/chat/")

        page.get_by_label("Your question").fill("one two three four")
        page.get_by_test_id("send").click()

        turn = page.get_by_test_id("turn").first
        expect(turn.get_by_test_id("turn-incomplete")).to_contain_text(
            "The answer stopped before it was finished. The app's answer broke off part-way."
        )
        expect(turn.get_by_test_id("answer")).to_have_text("Echo (1 messages):")
        expect(turn.get_by_test_id("feedback-panel")).to_be_visible()
        expect(page.get_by_label("Your question")).to_have_value("one two three four")

        server.cut_after = None
        turn.get_by_test_id("retry").click()

        second = page.get_by_test_id("turn").nth(1)
        expect(second.get_by_test_id("answer")).to_have_text("Echo (1 messages): one two three four")
        expect(second.get_by_test_id("turn-incomplete")).to_have_count(0)
        # The partial answer stays on the page, reviewable; only its retry is gone.
        expect(turn.get_by_test_id("answer")).to_have_text("Echo (1 messages):")
        expect(page.get_by_test_id("retry")).to_have_count(0)
        expect(page.get_by_label("Your question")).to_have_value("")
    assert [r.status for r in Request.objects.order_by("created_at")] == ["incomplete", "ok"]


def test_an_answer_with_replaced_characters_says_so(page_for, querier, app):
    with OpenAIServer() as server:
        server.answer = "lone \ud800 and nul \x00 gone"
        App.objects.filter(pk=app.pk).update(adapter=App.Adapter.HTTP, adapter_config={"url": server.url})
        page = page_for(querier)
        page.goto("/apps/support-bot/chat/")

        page.get_by_label("Your question").fill("anything")
        page.get_by_test_id("send").click()

        expect(page.get_by_test_id("answer")).to_have_text("lone \ufffd and nul  gone")
        expect(page.get_by_test_id("text-altered")).to_contain_text("could not be stored and were replaced")
