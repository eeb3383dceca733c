"""Every main page in a real browser under the Content-Security-Policy: no violation, no script
error, and no request to a host other than the live server (no CDN, no tracking pixel)."""

import pytest
from playwright.sync_api import expect

from reviewapp.catalog import services as catalog
from reviewapp.queues import services as queues
from tests import factories

pytestmark = pytest.mark.browser

# Runs before any script of the page; the CSP does not apply to scripts injected by the driver.
LISTEN_FOR_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`);
});
"""


class Watch:
    """Collects what breaks the rules on a page: CSP violations, uncaught errors, other hosts."""

    def __init__(self, page, origin: str):
        self.page = page
        self.origin = origin
        self.problems: list[str] = []
        page.add_init_script(LISTEN_FOR_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"{page.url}: uncaught {exc}"))
        page.on("request", self._request)

    def _console(self, message):
        text = message.text
        if "Content Security Policy" in text or "htmx:evalDisallowedError" in text:
            self.problems.append(f"{self.page.url}: console {message.type}: {text}")

    def _request(self, request):
        url = request.url
        if url.startswith(("data:", "blob:", "about:")):
            return
        if url != self.origin and not url.startswith(self.origin + "/"):
            self.problems.append(f"{self.page.url}: requested another host: {url}")

    def visit(self, path: str):
        response = self.page.goto(path)
        assert response is not None and response.status < 400, f"{path}: {response and response.status}"
        assert "content-security-policy" in response.headers, path
        self.check()
        return response

    def check(self):
        self.page.wait_for_load_state("load")
        violations = self.page.evaluate("window.__cspViolations || []")
        self.problems += [f"{self.page.url}: {v}" for v in violations]
        self.page.evaluate("window.__cspViolations = []")
        assert not self.problems, "\n".join(self.problems)


@pytest.fixture
def watch(page_for, live_server):
    return lambda user: Watch(page_for(user), live_server.url)


@pytest.fixture
def programme(app, manager, demo_model_uri):
    """An app with instructions carrying an external image, logged turns and a review queue."""
    catalog.set_review_instructions(
        actor=manager,
        app=app,
        markdown="# Rules\n\nBe kind.\n\n![pixel](https://tracker.example.net/p.png?who=you)\n",
    )
    requests = [factories.make_request(app, question=f"Question {n}?") for n in range(3)]
    queue, _ = queues.create_queue(
        app=app,
        name="Three traces",
        created_by=manager,
        reviewers=[manager],
        request_ids=[r.request_id for r in requests],
    )
    return requests, queue


def test_a_managers_pages_keep_to_the_policy_and_to_our_host(watch, manager, app, programme):
    requests, queue = programme
    w = watch(manager)
    page = w.page

    w.visit("/")
    w.visit("/apps/")
    w.visit("/apps/support-bot/")
    # The tracking pixel of the instructions is a link, never loaded.
    expect(page.get_by_test_id("instructions").get_by_role("link", name="pixel")).to_be_visible()

    # Chat: a streamed answer (fetch), then feedback through htmx.
    w.visit("/apps/support-bot/chat/")
    page.get_by_label("Your question").fill("How do I rotate an API token?")
    page.get_by_test_id("send").click()
    turn = page.get_by_test_id("turn").first
    expect(turn.get_by_test_id("answer")).to_contain_text("docs://reviewapp/api#tokens", timeout=60_000)
    turn.get_by_test_id("thumbs-up").click()
    expect(turn.get_by_test_id("thumbs-up")).to_have_attribute("aria-pressed", "true")
    w.check()

    # Request log with an htmx search, one request, the import page.
    w.visit("/apps/support-bot/requests/")
    # Typed key by key: the keyup trigger, parsed by htmx with eval off.
    page.locator("input[name=q]").press_sequentially("Question 1")
    expect(page.get_by_test_id("request-log").locator("tbody tr")).to_have_count(1)
    w.check()
    w.visit(f"/apps/support-bot/requests/{requests[0].request_id}/")
    w.visit("/apps/support-bot/requests/import/")

    for path in (
        "/apps/support-bot/dashboard/",
        "/apps/support-bot/queues/",
        f"/apps/support-bot/queues/{queue.pk}/",
        "/queues/",
        "/apps/support-bot/curate/",
        "/apps/support-bot/exports/",
        "/apps/support-bot/permissions/",
        "/apps/support-bot/settings/",
        "/apps/support-bot/audit/",
    ):
        w.visit(path)

    # Queue review: reserving may take a POST (a button) or happen on the page itself.
    w.visit(f"/queues/{queue.pk}/review/")
    start = page.locator("#main form[method=post] button[type=submit]")
    if page.get_by_test_id("thumbs-up").count() == 0 and start.count():
        start.first.click()
        # htmx binds the buttons once the page has loaded; a click before that does nothing.
        page.wait_for_load_state("load")
    expect(page.get_by_test_id("thumbs-up")).to_be_visible()
    page.get_by_test_id("thumbs-up").click()
    expect(page.get_by_test_id("thumbs-up")).to_have_attribute("aria-pressed", "true", timeout=20_000)
    w.check()

    # API tokens: a new token through an htmx form.
    w.visit("/settings/tokens/")
    page.get_by_label("Name").fill("csp check")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_test_id("new-token-value")).to_be_visible()
    w.check()


def test_the_sign_in_pages_keep_to_the_policy_and_to_our_host(watch, db):
    w = watch(None)
    w.visit("/accounts/login/")
    expect(w.page.get_by_role("button", name="Sign in")).to_be_visible()
    w.visit("/admin/login/")


def test_the_api_docs_render_from_our_own_files_under_their_policy(watch, manager):
    w = watch(manager)
    w.visit("/api/docs/")
    # Swagger UI drew the schema: its bundle, styles and start-up script all came from this site.
    expect(w.page.locator(".swagger-ui .info .title")).to_contain_text("reviewapp API", timeout=20_000)
    expect(w.page.locator(".opblock").first).to_be_visible()
    w.check()
