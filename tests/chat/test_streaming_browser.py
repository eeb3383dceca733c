"""The demo chain's answer grows on the page as it streams, and a reload mid-answer keeps the turn."""

import re

import pytest
from playwright.sync_api import expect

from reviewapp.requestlog.models import Request

pytestmark = pytest.mark.browser

QUESTION = "How do I rotate an API token?"


def send(page, text):
    page.get_by_label("Your question").fill(text)
    page.get_by_test_id("send").click()


def test_the_demo_answer_is_seen_in_part_before_it_is_whole(page_for, querier, app, demo_model_uri, settings):
    settings.DEMO_STREAM_DELAY_SECONDS = 0.08
    page = page_for(querier)
    page.goto("/apps/support-bot/chat/")

    send(page, QUESTION)
    answer = page.get_by_test_id("answer")
    expect(answer).to_contain_text("From the documentation", timeout=60_000)
    partial = answer.text_content()

    expect(answer).to_contain_text("Sources:", timeout=30_000)
    expect(page.get_by_test_id("feedback-panel")).to_be_visible()
    whole = answer.text_content()
    assert "Sources:" not in partial and len(partial) < len(whole)
    assert whole.startswith(partial.strip()[:20])


def test_a_reload_mid_answer_shows_the_turn_not_an_empty_chat(
    page_for, querier, app, demo_model_uri, settings
):
    settings.DEMO_STREAM_DELAY_SECONDS = 0.2
    page = page_for(querier)
    page.goto("/apps/support-bot/chat/")

    send(page, QUESTION)
    expect(page.get_by_test_id("answer")).to_contain_text("From the documentation", timeout=60_000)
    # The address names the conversation before the answer is complete.
    expect(page).to_have_url(re.compile(r"\?c=[0-9a-f-]{36}$"))
    page.reload()

    # The question is on the page at once (still being answered, or already saved), then the saved turn.
    expect(page.get_by_text(QUESTION).first).to_be_visible()
    turn = page.get_by_test_id("turn")
    expect(turn).to_have_count(1, timeout=20_000)
    expect(turn.get_by_test_id("question")).to_have_text(QUESTION)
    expect(turn.get_by_test_id("answer")).to_contain_text("From the documentation")
    expect(page.get_by_test_id("turn-in-flight")).to_have_count(0)
    expect(turn.get_by_test_id("feedback-panel")).to_be_visible()
    [row] = Request.objects.all()
    assert row.status in (Request.Status.INCOMPLETE, Request.Status.OK)
    assert row.response.startswith("From the documentation")
