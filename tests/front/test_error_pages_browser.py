"""The error pages, and the other pages of this part (import, API tokens, a judge configuration, a
finished job), in a real browser at a desktop and a phone width: nothing wider than the screen,
no serious or critical accessibility violation (axe-core), nothing asked of another host."""

import pytest
from playwright.sync_api import expect

from reviewapp.exports import services as exports
from reviewapp.exports.judge_examples import export_judge_examples
from reviewapp.exports.selection import Filters
from reviewapp.jobs.services import run_job
from tests.browser_checks import serious_violations, watch_hosts
from tests.exports.helpers import reviewed
from tests.requestlog.helpers import row
from tests.requestlog.test_import_outcome import finished_import

pytestmark = pytest.mark.browser

WIDTHS = [1280, 390]


@pytest.fixture
def pages(app, manager, viewer):
    """name → (user, path, expected status)."""
    for i in range(2):
        reviewed(app, manager, "positive", question=f"Good question {i}?")
    reviewed(app, manager, "negative", question="Wrong?", corrected_response="The right answer.")
    job = exports.start_judge_export(app=app, user=manager, filters=Filters(), examples_per_judge=4)
    export = run_job(str(job.id), export_judge_examples).judge_export
    partly = finished_import(app, manager, [row(10), row(11, response=None)])
    return {
        "not-found": (manager, "/apps/no-such-app/", 404),
        "not-allowed": (viewer, f"/apps/{app.slug}/requests/import/", 403),
        "import": (manager, f"/apps/{app.slug}/requests/import/", 200),
        "import-job": (manager, f"/jobs/{partly.pk}/", 200),
        "judge-config": (manager, f"/apps/{app.slug}/judges/examples/{export.pk}/config/", 200),
        "tokens": (manager, "/settings/tokens/", 200),
    }


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(
    "name", ["not-found", "not-allowed", "import", "import-job", "judge-config", "tokens"]
)
def test_the_page_fits_is_accessible_and_stays_on_our_host(name, width, pages, page_for, live_server):
    user, path, status = pages[name]
    page = page_for(user)
    page.set_viewport_size({"width": width, "height": 900})
    elsewhere = watch_hosts(page, live_server.url)
    response = page.goto(path)
    assert response is not None and response.status == status, f"{path}: {response and response.status}"
    if name == "tokens":
        page.get_by_label("Token name").fill("laptop")
        page.get_by_role("button", name="Create token").click()
        expect(page.get_by_role("button", name="Copy token")).to_be_visible()
    if name == "import":
        page.get_by_text("The file format, with an example").click()
    page.wait_for_load_state("load")

    scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, f"{path} is {scroll_width}px wide at {inner_width}px"
    violations = serious_violations(page)
    assert not violations, f"{path} at {width}px:\n" + "\n".join(violations)
    assert not elsewhere, elsewhere
