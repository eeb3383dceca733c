"""The main pages at a desktop and a phone width, in a real browser: nothing wider than the screen,
no serious or critical accessibility violation (axe-core), no request to another host, and a
screenshot of each kept as a test artifact (SCREENSHOT_DIR, default test-artifacts/screenshots/)."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from reviewapp.queues import services as queues
from tests import factories
from tests.browser_checks import serious_violations, watch_hosts

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "test-artifacts" / "screenshots"))

WIDTHS = {"desktop": 1280, "phone": 390, "small-phone": 360}

# name → path; {queue} and {request} are filled in from the data below.
PAGES = {
    "apps": "/apps/",
    "chat": "/apps/support-bot/chat/",
    "review-item": "/queues/{queue}/review/",
    "request-log": "/apps/support-bot/requests/",
    "request-detail": "/apps/support-bot/requests/{request}/",
    "my-queues": "/queues/",
    "queue-detail": "/apps/support-bot/queues/{queue}/",
    "dashboard": "/apps/support-bot/dashboard/",
    "curation": "/apps/support-bot/curate/",
    "settings": "/apps/support-bot/settings/",
    "permissions": "/apps/support-bot/permissions/",
}

# The other pages of the same screens, checked at the phone width only.
MORE_PAGES = {
    "home": "/",
    "app-overview": "/apps/support-bot/",
    "new-app": "/apps/new/",
    "audit": "/apps/support-bot/audit/",
    "queues": "/apps/support-bot/queues/",
    "new-queue": "/apps/support-bot/queues/new/",
    "exports": "/apps/support-bot/exports/",
    "sign-in": "/accounts/login/",
}

# What a reviewer should never read: Python reprs, permission enums, exception names.
DEVELOPER_WORDS = re.compile(
    r"\{'|\['|\bCAN_(VIEW|QUERY|MANAGE)\b|\bnot_relevant\b|Traceback|Error\b:|^None$|: None\b", re.M
)


@pytest.fixture
def programme(app, manager, querier, viewer):
    """Logged turns with feedback (one of them a long answer with passages) and a review queue."""
    long_answer = "Open Settings, then API tokens, and press Rotate. " * 12 + "[1] [2]"
    requests = [
        factories.make_request(app, question=f"How do I rotate token number {n}?", response=long_answer)
        for n in range(4)
    ]
    factories.make_assessment(
        requests[0], manager, rating="negative", comment="Too long, and it cites nothing."
    )
    factories.make_assessment(requests[1], querier, rating="positive")
    queue, _ = queues.create_queue(
        app=app,
        name="Token questions",
        created_by=manager,
        reviewers=[manager, querier],
        request_ids=[r.request_id for r in requests],
    )
    return requests, queue


def check_page(page, path: str, shot: str, elsewhere: list[str]) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"), full_page=True)

    scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                         && !(e.parentElement && e.parentElement.closest('.table-scroll, .app-nav, pre, .export-preview')))
            .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''))"""
    )
    assert scroll_width <= inner_width, f"{path} is {scroll_width}px wide at {inner_width}px; widest: {wide}"
    text = page.inner_text("body")
    words = sorted({m.group(0) for m in DEVELOPER_WORDS.finditer(text)})
    assert not words, f"{path} shows developer words: {words}"
    violations = serious_violations(page)
    assert not violations, f"{path} at {inner_width}px:\n" + "\n".join(violations)
    assert not elsewhere, f"{path} requested other hosts: {elsewhere}"


@pytest.mark.parametrize("width", WIDTHS.keys())
@pytest.mark.parametrize("name", PAGES.keys())
def test_the_page_fits_the_screen_is_accessible_and_stays_on_our_host(
    name, width, page_for, live_server, manager, programme
):
    requests, queue = programme
    page = page_for(manager)
    page.set_viewport_size({"width": WIDTHS[width], "height": 900})
    elsewhere = watch_hosts(page, live_server.url)
    path = PAGES[name].format(queue=queue.pk, request=requests[0].request_id)
    response = page.goto(path)
    assert response is not None and response.status == 200, f"{path}: {response and response.status}"
    if name == "review-item" and page.get_by_test_id("thumbs-up").count() == 0:
        # The first visit may offer a button that reserves an item.
        page.locator("#main form[method=post] button[type=submit]").first.click()
        expect(page.get_by_test_id("thumbs-up").first).to_be_visible()
    page.wait_for_load_state("load")

    check_page(page, path, f"{name}-{width}", elsewhere)


@pytest.mark.parametrize("name", MORE_PAGES.keys())
def test_more_pages_fit_a_phone_and_are_accessible(name, page_for, live_server, manager, staff, programme):
    # The sign-in page is seen signed out; only staff create apps.
    page = page_for({"sign-in": None, "new-app": staff}.get(name, manager))
    page.set_viewport_size({"width": WIDTHS["phone"], "height": 900})
    elsewhere = watch_hosts(page, live_server.url)
    path = MORE_PAGES[name]
    response = page.goto(path)
    assert response is not None and response.status == 200, f"{path}: {response and response.status}"
    page.wait_for_load_state("load")
    check_page(page, path, f"{name}-phone", elsewhere)


def test_the_menu_button_opens_the_navigation_on_a_phone(page_for, manager, app):
    page = page_for(manager)
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto("/apps/")
    toggle = page.get_by_role("button", name="Menu")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("link", name="My queues")).to_be_visible()
    toggle.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")


def test_the_keyboard_focus_is_visible(page_for, manager, app):
    page = page_for(manager)
    page.goto("/apps/")
    for _ in range(3):  # the skip link, the name, the first menu link
        page.keyboard.press("Tab")
    focused = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [document.activeElement.tagName, s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
    )
    assert focused[0] == "A" and focused[1] != "none" and focused[2] >= 2, focused


def test_without_javascript_the_navigation_stays_within_reach_on_a_phone(browser, live_server, manager, app):
    from django.test import Client

    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 360, "height": 800}, java_script_enabled=False
    )
    try:
        client = Client()
        client.force_login(manager)
        cookie = client.cookies["sessionid"]
        context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": live_server.url}])
        page = context.new_page()
        page.goto("/apps/")
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        expect(page.get_by_role("link", name="My queues")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        context.close()
