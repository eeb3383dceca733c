"""Chat and feedback end to end in a real browser: chat with the demo chain, give every kind of feedback,
reload, and the manager sees it in the request log."""

from urllib.parse import parse_qs

import pytest
from playwright.sync_api import expect

from reviewapp.feedback.models import Assessment
from reviewapp.requestlog.models import Request

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def send(page, text):
    page.get_by_label("Your question").fill(text)
    page.get_by_test_id("send").click()


def answer(page, action, field=None):
    """Do `action` and wait for the panel's answer (to a POST of `field`, when given)."""

    def is_it(response):
        sent = parse_qs(response.request.post_data or "")
        posted = response.url.endswith("/feedback/") and response.request.method == "POST"
        return posted and (field is None or sent.get("field") == [field])

    with page.expect_response(is_it) as info:
        action()
    return info.value


def saved(page, action, field=None):
    response = answer(page, action, field)
    assert response.status == 200, response.text()


def refused(page, action, field):
    """Not saved: a 400 holding the panel with the reason in it."""
    response = answer(page, action, field)
    assert response.status == 400, response.text()


def type_and_leave(field, text):
    """Text fields save when the reviewer leaves them (or presses Ctrl+Enter), not while typing."""
    field.fill(text)
    field.blur()


def test_a_reviewer_gives_every_kind_of_feedback_in_the_chat_and_it_all_stays(
    page_for, querier, manager, app, demo_model_uri
):
    page = page_for(querier)
    page.goto("/apps/support-bot/chat/")
    send(page, "How do I resolve a sync conflict between two devices?")
    expect(page.get_by_test_id("turn").nth(0).get_by_test_id("feedback-panel")).to_be_visible(timeout=60_000)
    send(page, "How long do sharing links stay valid?")
    turn = page.get_by_test_id("turn").nth(1)
    panel = turn.get_by_test_id("feedback-panel")
    expect(panel).to_be_visible(timeout=60_000)
    request_id = turn.get_attribute("data-request-id")
    chunks = panel.get_by_test_id("chunk")
    assert chunks.count() >= 2

    saved(page, lambda: panel.get_by_test_id("thumbs-down").click())
    expect(panel.get_by_test_id("thumbs-down")).to_have_attribute("aria-pressed", "true")
    saved(page, lambda: panel.get_by_label("inaccurate", exact=True).check())
    saved(page, lambda: panel.get_by_label("incomplete", exact=True).check())
    saved(
        page,
        lambda: type_and_leave(
            panel.get_by_test_id("feedback-comment"), "Says nothing about <b>Business</b> plans."
        ),
    )
    panel.get_by_text("Correct the answer").click()
    correction = "Sharing links stay valid for 30 days; on Business plans an admin can change that."
    saved(page, lambda: type_and_leave(panel.get_by_test_id("feedback-correction"), correction))
    expect(panel.get_by_test_id("correction-diff").locator("ins")).not_to_have_count(0)
    saved(page, lambda: chunks.nth(0).get_by_test_id("chunk-relevant").click())
    # A comment before the passage is rated waits for the rating: a 400 that says so, the text kept.
    refused(
        page,
        lambda: type_and_leave(chunks.nth(1).get_by_test_id("chunk-comment"), "About folders, not links"),
        "chunk_comment",
    )
    expect(chunks.nth(1).get_by_test_id("feedback-note")).to_be_visible()
    # The comment is sent again with the rating: wait for the rating.
    saved(page, lambda: chunks.nth(1).get_by_test_id("chunk-not-relevant").click(), "chunk")
    panel.get_by_test_id("missing-doc-uri").fill("docs://tidepool/business#links")
    panel.get_by_test_id("missing-content").fill("Admins set the link lifetime.")
    saved(page, lambda: panel.get_by_test_id("missing-add").click())
    expect(panel.get_by_test_id("missing-source")).to_have_count(1)
    expect(panel.get_by_test_id("missing-doc-uri")).to_have_value("")

    page.reload()
    panel = page.locator(f'[data-testid="feedback-panel"][data-request-id="{request_id}"]')
    chunks = panel.get_by_test_id("chunk")
    expect(panel.get_by_test_id("thumbs-down")).to_have_attribute("aria-pressed", "true")
    expect(panel.get_by_test_id("thumbs-up")).to_have_attribute("aria-pressed", "false")
    expect(panel.get_by_label("inaccurate", exact=True)).to_be_checked()
    expect(panel.get_by_label("incomplete", exact=True)).to_be_checked()
    expect(panel.get_by_label("irrelevant", exact=True)).not_to_be_checked()
    expect(panel.get_by_test_id("feedback-comment")).to_have_value(
        "Says nothing about <b>Business</b> plans."
    )
    expect(panel.get_by_test_id("feedback-correction")).to_have_value(correction)
    expect(panel.get_by_test_id("correction-diff")).to_be_visible()
    expect(chunks.nth(0).get_by_test_id("chunk-relevant")).to_have_attribute("aria-pressed", "true")
    expect(chunks.nth(1).get_by_test_id("chunk-not-relevant")).to_have_attribute("aria-pressed", "true")
    expect(chunks.nth(1).get_by_test_id("chunk-comment")).to_have_value("About folders, not links")
    expect(panel.get_by_test_id("missing-source-uri")).to_have_text("docs://tidepool/business#links")

    row = Assessment.objects.latest_per_reviewer().get(request_id=request_id)
    assert (row.rating, row.reasons, row.corrected_response) == (
        "negative",
        ["inaccurate", "incomplete"],
        correction,
    )
    assert [(c["position"], c["rating"]) for c in row.retrieval_assessments] == [
        (0, "relevant"),
        (1, "not_relevant"),
    ]
    assert row.missing_sources == [
        {"doc_uri": "docs://tidepool/business#links", "content": "Admins set the link lifetime."}
    ]
    # Each control wrote its own row; all of them are kept.
    assert Assessment.objects.filter(request_id=request_id).count() == 8
    assert Request.objects.get(pk=request_id).source == "review_app"

    boss = page_for(manager)
    boss.goto(f"/apps/support-bot/requests/{request_id}/")
    effective = boss.get_by_test_id("assessment").filter(has_text="in force")
    expect(effective).to_have_count(1)
    expect(effective).to_contain_text("querier@example.com")
    expect(effective).to_contain_text("thumbs down")
    expect(effective).to_contain_text("inaccurate, incomplete")
    expect(effective).to_contain_text("Says nothing about <b>Business</b> plans.")
    expect(effective).to_contain_text("docs://tidepool/business#links")
    boss.goto("/apps/support-bot/dashboard/")
    # Reviewed: one request, a link to the log.
    expect(boss.get_by_test_id("figure-reviewed").locator("a.count").first).to_have_text("1")


def test_a_comment_typed_while_the_server_is_unreachable_is_kept_and_sent_again(page_for, querier, app):
    from tests import factories

    req = factories.make_request(app, user=querier)
    page = page_for(querier)
    page.goto(f"/apps/support-bot/requests/{req.pk}/feedback/")
    panel = page.get_by_test_id("feedback-panel")

    page.route(
        "**/feedback/", lambda route: route.abort() if route.request.method == "POST" else route.continue_()
    )
    type_and_leave(panel.get_by_test_id("feedback-comment"), "Typed during an outage")
    expect(panel.get_by_test_id("feedback-offline")).to_be_visible()
    expect(panel.get_by_test_id("feedback-comment")).to_have_value("Typed during an outage")
    assert not Assessment.objects.exists()

    page.unroute("**/feedback/")
    expect(panel.get_by_test_id("saved")).to_be_visible(timeout=15_000)
    expect(panel.get_by_test_id("feedback-offline")).to_be_hidden()
    assert Assessment.objects.get().comment == "Typed during an outage"


def test_an_error_is_shown_beside_the_field_and_the_text_stays(page_for, querier, app):
    from tests import factories

    req = factories.make_request(app, user=querier)
    page = page_for(querier)
    page.goto(f"/apps/support-bot/requests/{req.pk}/feedback/")
    panel = page.get_by_test_id("feedback-panel")

    saved(page, lambda: panel.get_by_test_id("thumbs-down").click())
    panel.get_by_label("other", exact=True).check()
    expect(panel.get_by_test_id("feedback-error")).to_contain_text("other")
    type_and_leave(panel.get_by_test_id("other-reason"), "Wrong product line")
    expect(panel.get_by_test_id("other-reason")).to_have_value("Wrong product line")
    expect(panel.locator(".fb-why [data-testid=saved]")).to_be_visible()
    row = Assessment.objects.latest_per_reviewer().get()
    assert (row.reasons, row.other_reason) == (["other"], "Wrong product line")
