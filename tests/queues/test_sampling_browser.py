"""Filling a queue by rules in a real browser: from the request log's filters to a preview (htmx)
and a new queue holding what the preview showed; an error shown beside its field; no serious
accessibility violation on the page."""

import pytest
from playwright.sync_api import expect

from reviewapp.queues.models import ReviewQueue
from tests.browser_checks import serious_violations

from .sampling_data import draw_order, seed_world

pytestmark = pytest.mark.browser


@pytest.fixture
def world(app, manager, querier, transactional_db):
    return seed_world(app, querier, manager)


def test_from_the_request_log_to_a_preview_and_a_filled_queue(world, manager, page_for):
    page = page_for(manager)
    page.goto("/apps/support-bot/requests/?app_version=v2")
    page.get_by_test_id("fill-by-rules").click()

    expect(page.get_by_label("v2", exact=True)).to_be_checked()
    page.get_by_label("New queue's name").fill("Version 2 sample")
    page.get_by_label("Target size").fill("0")
    page.get_by_test_id("fill-preview-button").click()
    expect(page.get_by_text("must be a whole number from 1 to 10,000")).to_be_visible()
    expect(page.get_by_label("New queue's name")).to_have_value("Version 2 sample")

    page.get_by_label("Target size").fill("2")
    page.get_by_test_id("fill-preview-button").click()
    expect(page.get_by_test_id("preview-selected")).to_have_text("2")
    expect(page.get_by_test_id("preview-matching")).to_have_text("3")
    # htmx swapped the form section: the page was not reloaded, so the URL is still the log's link.
    assert "app_version=v2" in page.url
    seed = int(page.locator("input[name=seed]").input_value())
    shown = page.get_by_test_id("preview-rows").locator("tr[data-request-id]")
    expect(shown).to_have_count(2)
    assert serious_violations(page, "#fill-form") == []

    page.get_by_test_id("fill-button").click()
    expect(page.get_by_test_id("queue-name")).to_have_text("Version 2 sample")
    queue = ReviewQueue.objects.get(name="Version 2 sample")
    expected = draw_order(world.ids("c", "d", "g"), seed)[:2]
    assert list(queue.items.order_by("position").values_list("request_id", flat=True)) == expected
    expect(page.get_by_text("Added 2 requests to “Version 2 sample”.")).to_be_visible()


def test_the_page_fits_a_phone_with_its_preview(world, manager, page_for):
    page = page_for(manager)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/apps/support-bot/queues/fill/")
    page.get_by_label("Some reviewer gave a thumbs down").check()
    page.get_by_test_id("fill-preview-button").click()
    expect(page.get_by_test_id("preview-selected")).to_have_text("2")

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert serious_violations(page) == []
