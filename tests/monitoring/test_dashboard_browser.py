"""The dashboard in a real browser: two versions compared, a number followed into the request log,
a chart's CSV downloaded, the page read at 360 px; screenshots kept as the test's artifacts."""

import os
import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from reviewapp.monitoring import charts
from reviewapp.monitoring.quality import quality
from tests import factories
from tests.monitoring.test_dashboard_page import RANGE, WINDOW, write_log

pytestmark = pytest.mark.browser


@pytest.fixture
def artifacts(tmp_path) -> Path:
    """Where the screenshots go: $TEST_ARTIFACTS_DIR when CI sets it, else pytest's kept tmp_path."""
    folder = Path(os.environ.get("TEST_ARTIFACTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def watch_for_policy_errors(page) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"uncaught {exc}"))
    # Not every console error: "Failed to load resource" is also the 400 of a refused pick, on purpose.
    page.on(
        "console",
        lambda m: (
            problems.append(m.text) if "Content Security Policy" in m.text or "htmx" in m.text else None
        ),
    )
    return problems


def settled(page) -> None:
    """Waits until htmx has swapped and settled: a change made sooner reaches a form htmx has not
    wired up yet, and is lost."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )


def test_a_manager_compares_two_versions_follows_a_number_and_downloads_a_chart(
    page_for, manager, app, artifacts
):
    write_log(app, factories.make_user("x@example.com"), factories.make_user("y@example.com"))
    page = page_for(manager)
    problems = watch_for_policy_errors(page)
    page.goto(f"/apps/support-bot/dashboard/?{urlencode(RANGE)}")
    expect(page.get_by_test_id("version-column")).to_have_count(3)

    # Compare: ticking the box swaps the body (htmx) with A and B side by side, and the URL follows.
    page.get_by_test_id("compare").check()
    expect(page.get_by_test_id("ab-sentence")).to_be_visible()
    settled(page)
    # A first: for a moment A and B are the same version, which the form refuses, keeping both picks.
    page.get_by_test_id("version-a").select_option("2")
    expect(page.get_by_test_id("form-errors")).to_contain_text("pick a version other than A")
    expect(page.get_by_test_id("version-a")).to_have_value("2")
    settled(page)
    page.get_by_test_id("version-b").select_option("1")
    expected = quality(app, replace(WINDOW, versions=("2", "1"))).comparison.sentence
    expect(page.get_by_test_id("ab-sentence")).to_have_text(f"A/B: {expected}")
    expect(page.get_by_test_id("version-column")).to_have_text(["A: 2 current", "B: 1"])
    assert "compare=yes" in page.url and "a=2" in page.url and "b=1" in page.url
    page.screenshot(path=artifacts / "dashboard-ab.png", full_page=True)
    print(f"\nscreenshot: {artifacts / 'dashboard-ab.png'}")

    # A number is a link to exactly the requests it counts: version 1's rated requests.
    rated = page.get_by_test_id("figure-thumbs_up").locator("td").nth(1).locator("a.count").last
    expect(rated).to_have_text("3")
    rated.click()
    expect(page).to_have_url(re.compile(r"/apps/support-bot/requests/\?.*verdict=rated"))
    expect(page.get_by_test_id("request-log").locator("tbody tr")).to_have_count(3)

    # Back on the dashboard, a chart's CSV is its data.
    page.go_back()
    expect(page.get_by_test_id("ab-sentence")).to_be_visible()
    # The whole page, not the body htmx was given for the same address.
    expect(page.get_by_role("navigation", name="App")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_test_id("csv-thumbs_up").click()
    assert download.value.suggested_filename == "support-bot-thumbs_up-20260302T0000-20260305T0000.csv"
    shown = quality(app, replace(WINDOW, versions=("2", "1")))
    assert Path(download.value.path()).read_bytes().decode() == charts.chart("thumbs_up", shown, {}).csv()

    # At 360 px nothing of the dashboard runs off the screen (the figures table scrolls in its box).
    page.set_viewport_size({"width": 360, "height": 800})
    expect(page.locator("svg.chart-svg").first).to_be_visible()
    # (The site's header is wider than 360 px on every page; the dashboard's own body is not.)
    wide = page.evaluate(
        """() => [...document.querySelectorAll('#dashboard-body *')]
            .filter(e => !e.closest('.table-scroll') && e.getBoundingClientRect().right > 361)
            .map(e => e.outerHTML.slice(0, 80))"""
    )
    assert not wide, wide
    scroll = page.locator("#dashboard-body .table-scroll").first
    assert scroll.evaluate("e => e.getBoundingClientRect().right") <= 361
    widths = page.locator("svg.chart-svg").evaluate_all(
        "svgs => svgs.map(s => s.getBoundingClientRect().width)"
    )
    assert widths and max(widths) <= 360
    # The drawing shrinks to the screen, its text less: labels stay about 10 px high.
    label = page.locator("svg.chart-svg text").first
    assert label.evaluate("t => t.getBoundingClientRect().height") >= 10
    page.screenshot(path=artifacts / "dashboard-360px.png", full_page=True)
    print(f"screenshot: {artifacts / 'dashboard-360px.png'}")
    assert not problems, problems
