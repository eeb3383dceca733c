"""The feedback panel as a reviewer uses it in a real browser: drafts while typing, saves on blur or
Ctrl+Enter, reasons only with "Not good", passages numbered as the answer cites them, and a panel
that fits a 360 px phone."""

import time

import pytest
from playwright.sync_api import expect

from reviewapp.catalog.models import App
from reviewapp.feedback import summary
from reviewapp.feedback.models import Assessment, FeedbackDraft, FeedbackReason, MlflowSync
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

LONG = (
    "Tokens can be rotated in Settings under API tokens. Rotating a token issues a new secret and "
    "keeps the old one valid for one hour, so running jobs can finish. After that hour the old secret "
    "is refused. Tokens that were revoked cannot be rotated; create a new one instead. THE END."
)


@pytest.fixture
def req(app, querier):
    return factories.make_request(
        app,
        user=querier,
        response="Open Settings and press Rotate [1]. Revoked tokens stop working at once [2].",
        mlflow_trace_id="tr-typing",
        chunks=[
            {"position": 0, "doc_uri": "docs://tokens#rotate", "content": LONG},
            {
                "position": 1,
                "doc_uri": "docs://tokens#revoke",
                "content": "Revoked tokens stop working at once.",
            },
        ],
    )


def open_panel(page_for, user, req):
    page = page_for(user)
    page.goto(f"/apps/{req.app.slug}/requests/{req.pk}/feedback/")
    return page, page.get_by_test_id("feedback-panel")


def wait_for(check, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def comment_draft(req, user):
    return FeedbackDraft.objects.filter(request=req, reviewer=user, field="comment").values_list(
        "text", flat=True
    )


def test_typing_a_comment_for_ten_seconds_keeps_drafts_and_writes_at_most_one_row(page_for, querier, req):
    page, panel = open_panel(page_for, querier, req)
    panel.get_by_test_id("feedback-comment").click()
    words = [
        "The",
        "answer",
        "names",
        "the",
        "wrong",
        "menu:",
        "tokens",
        "are",
        "rotated",
        "under",
        "Security,",
        "not",
        "under",
        "Settings.",
    ]
    typed, drafts_seen, started = "", set(), time.monotonic()
    for index, word in enumerate(words):
        page.keyboard.type(word + " ", delay=70)
        typed += word + " "
        if index % 3 == 2:
            page.wait_for_timeout(1_000)  # a pause in typing, long enough for the old autosave
            drafts_seen.update(comment_draft(req, querier))
            assert Assessment.objects.filter(request=req).count() == 0
    assert time.monotonic() - started >= 10
    expect(panel.get_by_test_id("draft-hint").first).to_have_text("Draft — not saved yet")
    wait_for(lambda: list(comment_draft(req, querier)) == [typed], "the last draft")
    # Several drafts were written along the way, each overwriting the one before.
    assert len(drafts_seen) >= 3 and FeedbackDraft.objects.count() == 1
    assert Assessment.objects.filter(request=req).count() == 0 and not MlflowSync.objects.exists()

    page.keyboard.press("Tab")  # leaving the field saves it, once
    expect(panel.get_by_test_id("saved").first).to_be_visible()
    wait_for(lambda: not FeedbackDraft.objects.exists(), "the draft to be cleared")
    rows = Assessment.objects.filter(request=req)
    assert rows.count() <= 1 and MlflowSync.objects.count() <= 1
    assert rows.get().comment == typed


def test_what_was_typed_and_not_saved_comes_back_after_a_reload(page_for, querier, req):
    page, panel = open_panel(page_for, querier, req)
    panel.get_by_test_id("feedback-comment").press_sequentially("Half a thought", delay=30)
    wait_for(lambda: list(comment_draft(req, querier)) == ["Half a thought"], "the draft")

    page.reload()

    panel = page.get_by_test_id("feedback-panel")
    expect(panel.get_by_test_id("feedback-comment")).to_have_value("Half a thought")
    expect(panel.get_by_test_id("draft-hint")).to_have_text("Draft — not saved yet")
    page.wait_for_timeout(1_000)
    assert not Assessment.objects.exists()


def test_leaving_a_text_field_saves_it_and_the_draft_mark_goes(page_for, querier, req):
    page, panel = open_panel(page_for, querier, req)
    comment = panel.get_by_test_id("chunk-comment").first
    panel.get_by_test_id("chunk-relevant").first.click()
    expect(panel.get_by_test_id("chunk-relevant").first).to_have_attribute("aria-pressed", "true")
    comment.press_sequentially("Says one hour, the page says two", delay=20)
    expect(panel.get_by_test_id("draft-hint")).to_be_visible()
    comment.blur()

    expect(panel.get_by_test_id("draft-hint")).to_have_count(0)
    expect(panel.locator("[id$=-chunk-0-status] [data-testid=saved]")).to_be_visible()
    row = Assessment.objects.latest_per_reviewer().get(request=req)
    assert row.retrieval_assessments[0]["comment"] == "Says one hour, the page says two"
    assert not FeedbackDraft.objects.exists()


def test_ctrl_enter_saves_the_correction_without_leaving_it_and_shows_the_diff(page_for, querier, req):
    page, panel = open_panel(page_for, querier, req)
    panel.get_by_text("Correct the answer").click()
    editor = panel.get_by_test_id("feedback-correction")
    expect(editor).to_have_value(req.response)  # prefilled with the answer
    editor.press("End")
    editor.press_sequentially(" Rotation keeps the old secret for an hour.", delay=10)
    # While it is edited, the change against the answer shows; nothing is saved yet.
    live = panel.get_by_test_id("correction-live-diff")
    expect(live.locator("ins")).to_have_text(" Rotation keeps the old secret for an hour.")
    expect(live.locator("del")).to_have_count(0)
    assert not Assessment.objects.exists()
    editor.press("Control+Enter")

    expect(panel.get_by_test_id("correction-diff").locator("ins")).to_contain_text("Rotation keeps")
    expect(live).to_be_hidden()  # the saved comparison takes over
    assert editor.evaluate("el => document.activeElement === el")
    row = Assessment.objects.get(request=req)
    assert row.corrected_response == req.response + " Rotation keeps the old secret for an hour."


def test_reasons_come_with_not_good_only_and_a_thumbs_up_hides_them_without_deleting(page_for, querier, req):
    page, panel = open_panel(page_for, querier, req)
    reasons = panel.get_by_test_id("reasons-box")
    expect(reasons).to_be_hidden()
    panel.get_by_test_id("thumbs-up").click()
    expect(panel.get_by_test_id("thumbs-up")).to_have_attribute("aria-pressed", "true")
    expect(reasons).to_be_hidden()

    panel.get_by_test_id("thumbs-down").click()
    expect(reasons).to_be_visible()
    chip = panel.get_by_label("inaccurate", exact=True)
    chip.focus()
    page.keyboard.press("Space")  # chips work from the keyboard
    expect(chip).to_be_checked()
    expect(panel.locator(".fb-reasons [data-testid=saved]")).to_be_visible()
    summary.catch_up()  # as the dashboard does before it counts them
    assert list(FeedbackReason.objects.values_list("reason", flat=True)) == ["inaccurate"]

    panel.get_by_test_id("thumbs-up").click()
    expect(panel.get_by_test_id("thumbs-up")).to_have_attribute("aria-pressed", "true")
    expect(reasons).to_be_hidden()
    # Kept on the row (a change of mind back brings them back) but no longer counted.
    row = Assessment.objects.latest_per_reviewer().get(request=req)
    assert (row.rating, row.reasons) == ("positive", ["inaccurate"])
    summary.catch_up()  # as the dashboard does before it counts them
    assert not FeedbackReason.objects.exists()

    page.reload()
    panel = page.get_by_test_id("feedback-panel")
    expect(panel.get_by_test_id("reasons-box")).to_be_hidden()
    panel.get_by_test_id("thumbs-down").click()
    expect(panel.get_by_label("inaccurate", exact=True)).to_be_checked()


def test_passages_are_numbered_as_the_answer_cites_them_and_open_to_the_full_text(page_for, querier, req):
    page, panel = open_panel(page_for, querier, req)
    chunks = panel.get_by_test_id("chunk")
    expect(chunks.get_by_test_id("chunk-number")).to_have_text(["[1]", "[2]"])
    first = chunks.first
    expect(first.get_by_test_id("chunk-start")).to_be_visible()
    expect(first.get_by_test_id("chunk-start")).to_contain_text("Tokens can be rotated in Settings")
    expect(first.get_by_test_id("chunk-content")).to_be_hidden()

    first.get_by_text("Show the whole passage").click()
    expect(first.get_by_test_id("chunk-content")).to_be_visible()
    expect(first.get_by_test_id("chunk-content")).to_contain_text("THE END.")
    # A short passage is shown whole, with nothing to open.
    expect(chunks.nth(1).get_by_test_id("chunk-content")).to_be_visible()
    expect(chunks.nth(1).get_by_text("Show the whole passage")).to_have_count(0)
    # One click rates a passage.
    chunks.nth(1).get_by_test_id("chunk-not-relevant").click()
    expect(chunks.nth(1).get_by_test_id("chunk-not-relevant")).to_have_attribute("aria-pressed", "true")


def test_the_panel_fits_a_360_px_phone(page_for, querier, app, req):
    App.objects.filter(pk=app.pk).update(
        reasons=["inaccurate", "incomplete", "irrelevant", "out of date for the current release", "harmful"]
    )
    page, panel = open_panel(page_for, querier, req)
    page.set_viewport_size({"width": 360, "height": 800})
    panel.get_by_test_id("thumbs-down").click()
    expect(panel.get_by_test_id("thumbs-down")).to_have_attribute("aria-pressed", "true")
    panel.get_by_text("Correct the answer").click()
    expect(panel.get_by_test_id("reasons-box")).to_be_visible()
    expect(panel.get_by_test_id("feedback-correction")).to_be_visible()

    overflow = panel.evaluate(
        """panel => {
            const inner = panel.getBoundingClientRect().left + panel.clientWidth + 0.5;
            const out = [];
            panel.querySelectorAll("*").forEach((el) => {
                const box = el.getBoundingClientRect();
                if (box.width && box.right > inner) out.push(el.outerHTML.slice(0, 120));
            });
            return {out, scroll: panel.scrollWidth, width: panel.clientWidth, edge: inner};
        }"""
    )
    assert overflow["out"] == [] and overflow["scroll"] <= overflow["width"], overflow
    assert overflow["edge"] <= 360.5
    # Reasons never wrap one word per line: a chip of short words is one line high.
    heights = panel.locator(".fb-chip").evaluate_all(
        "chips => chips.map((c) => c.getBoundingClientRect().height)"
    )
    assert max(heights[:3]) <= min(heights) * 1.2, heights


def test_on_a_phone_the_thumbs_stay_in_sight_while_reading_the_passages(page_for, querier, req):
    page, panel = open_panel(page_for, querier, req)
    page.set_viewport_size({"width": 390, "height": 480})
    panel.locator("[data-testid=chunk]").nth(1).scroll_into_view_if_needed()
    panel.locator(".fb-missing").scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 0
    box = panel.get_by_test_id("thumbs-up").bounding_box()
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= 480, box
    # And it is still the button that answers a click there.
    panel.get_by_test_id("thumbs-up").click()
    expect(panel.get_by_test_id("thumbs-up")).to_have_attribute("aria-pressed", "true")
