"""The chat on a phone: one column without sideways scrolling, the conversation first and the list of
conversations behind a button; long messages fold behind "Show more"."""

import pytest
from playwright.sync_api import expect

from tests import factories

pytestmark = pytest.mark.browser


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", [360, 390])
def test_on_a_phone_the_conversation_comes_first_and_the_list_opens_from_a_button(
    page_for, querier, app, width
):
    turns = [factories.make_request(app, user=querier, question=f"Question number {n}?") for n in range(30)]
    page = page_for(querier)
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"/apps/support-bot/chat/?c={turns[0].conversation_id}")

    toggle = page.get_by_test_id("conversations-toggle")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_test_id("conversation-link").first).to_be_hidden()
    box = page.get_by_label("Your question")
    assert box.bounding_box()["y"] < 800 * 2  # not below thirty conversations
    assert no_sideways_scroll(page)

    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_test_id("conversation-link")).to_have_count(30)
    expect(page.get_by_test_id("conversation-link").first).to_be_visible()
    assert no_sideways_scroll(page)


def test_on_a_wide_screen_the_list_is_beside_the_chat_without_a_button(page_for, querier, app):
    factories.make_request(app, user=querier)
    page = page_for(querier)
    page.goto("/apps/support-bot/chat/")

    expect(page.get_by_test_id("conversations-toggle")).to_be_hidden()
    expect(page.get_by_test_id("conversation-link")).to_be_visible()


def test_a_long_answer_folds_behind_show_more_at_phone_width(page_for, querier, app):
    long_answer = "\n".join(
        f"Line {n} of a very long answer, with averyveryverylongwordthatmustwrap{n}" for n in range(80)
    )
    turn = factories.make_request(app, user=querier, response=long_answer)
    page = page_for(querier)
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"/apps/support-bot/chat/?c={turn.conversation_id}")

    answer = page.get_by_test_id("answer")
    more = page.get_by_test_id("show-more")
    expect(more).to_have_count(1)  # the short question does not fold
    expect(more).to_have_attribute("aria-expanded", "false")
    expect(more).to_have_attribute("aria-controls", answer.get_attribute("id"))
    folded = answer.bounding_box()["height"]
    assert no_sideways_scroll(page)

    more.click()
    expect(more).to_have_attribute("aria-expanded", "true")
    expect(more).to_have_text("Show less")
    assert answer.bounding_box()["height"] > folded * 2
    more.click()
    expect(more).to_have_text("Show more")
    assert no_sideways_scroll(page)
