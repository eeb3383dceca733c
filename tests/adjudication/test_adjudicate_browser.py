"""A manager settles a disagreement in a real browser: from the queue page to the list, compares the
reviewers side by side, takes one reviewer's label with a note, and the item moves to settled."""

import pytest
from playwright.sync_api import expect

from reviewapp.adjudication.models import Adjudication
from tests.adjudication.helpers import disputed_queue

pytestmark = pytest.mark.browser


def test_a_manager_compares_picks_one_reviewers_label_with_a_note_and_the_item_is_settled(
    app, manager, page_for
):
    d = disputed_queue(app, blind=True)
    page = page_for(manager)

    # The queue page's first agreement figure imports scikit-learn: slow on a loaded machine.
    page.goto(f"/apps/support-bot/queues/{d.queue.pk}/", timeout=90_000)
    page.get_by_test_id("adjudication-link").get_by_role("link").click()
    expect(page.get_by_test_id("open-case")).to_have_count(3)
    expect(page.get_by_test_id("nothing-settled")).to_be_visible()

    page.locator(f"[data-testid=open-case][data-request-id='{d.thumbs.request_id}']").get_by_test_id(
        "compare"
    ).click()
    expect(page.get_by_test_id("reviewer-name")).to_have_text(["Reviewer 1", "Reviewer 2"])
    expect(page.get_by_test_id("review-rating").nth(0).get_by_label("thumbs up")).to_be_visible()
    expect(page.get_by_test_id("review-rating").nth(1).get_by_label("thumbs down")).to_be_visible()
    expect(page.get_by_test_id("review-correction").nth(1)).to_contain_text("on mobile, Profile › Tokens.")
    assert d.first.email not in page.content() and d.second.email not in page.content()

    page.get_by_test_id("pick").nth(1).click()
    page.get_by_label("Note").fill("The mobile steps were missing; Reviewer 2 is right.")
    page.get_by_test_id("settle").click()

    expect(page.get_by_test_id("open-case")).to_have_count(2)
    settled = page.get_by_test_id("settled-case")
    expect(settled).to_have_count(1)
    expect(settled).to_have_attribute("data-request-id", str(d.thumbs.request_id))
    expect(settled.get_by_test_id("final-rating")).to_contain_text("with a correction")
    expect(settled).to_contain_text("The mobile steps were missing")
    adjudication = Adjudication.objects.get()
    assert (adjudication.rating, adjudication.chosen_reviewer, adjudication.adjudicator) == (
        "negative",
        d.second,
        manager,
    )
    assert adjudication.note == "The mobile steps were missing; Reviewer 2 is right."
