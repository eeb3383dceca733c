"""In a real browser: a link with a filter the form does not show (the dashboard's) lands on the log
with that filter as a chip; changing a shown filter keeps it, and its × removes it."""

import pytest
from playwright.sync_api import expect

from reviewapp.feedback.services import record_feedback
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def test_a_chip_stays_while_other_filters_change_and_its_cross_removes_it(page_for, app, manager, querier):
    disputed = factories.make_request(app, question="Disputed?", source="rest_api")
    liked = factories.make_request(app, question="Liked?", source="review_app")
    chatted = factories.make_request(app, question="Mixed in chat?", source="review_app")
    for request in (disputed, chatted):
        record_feedback(request=request, reviewer=querier, changes={"rating": "positive"})
        record_feedback(request=request, reviewer=manager, changes={"rating": "negative"})
    record_feedback(request=liked, reviewer=querier, changes={"rating": "positive"})
    page = page_for(manager)
    rows = page.get_by_test_id("request-log").locator("tbody tr")

    page.goto(f"/apps/{app.slug}/requests/?verdict=mixed")

    chip = page.get_by_test_id("filter-chips").locator('[data-filter="verdict"]')
    expect(chip).to_contain_text("Ratings: Thumbs up and down")
    expect(rows).to_have_count(2)

    # A shown filter, changed: the results are swapped in, still with the verdict.
    with page.expect_response(lambda r: "source=review_app" in r.url and "verdict=mixed" in r.url):
        page.get_by_label("Source").select_option("review_app")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-request-id", str(chatted.pk))

    chip.get_by_role("link", name="Remove the filter Ratings").click()

    expect(page.get_by_test_id("filter-chips")).to_have_count(0)
    expect(rows).to_have_count(2)  # both review-app rows, the liked one too
    assert "verdict" not in page.url and "source=review_app" in page.url
