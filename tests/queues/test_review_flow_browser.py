"""The whole programme in a real browser: a manager builds a queue, two reviewers go through it
with the keyboard only, and the manager sees progress and Cohen's kappa."""

import pytest
from playwright.sync_api import expect

from reviewapp.feedback.models import Assessment
from reviewapp.queues import claims, services
from reviewapp.queues.models import Reservation, ReviewQueue
from tests import factories

pytestmark = pytest.mark.browser

# Reviewer A: + + - - +, reviewer B: + - - - +.  p_o = 4/5, p_e = .6·.4 + .4·.6 = .48,
# kappa = (.8 - .48) / .52 = 0.615…
THUMBS = {"a": "11221", "b": "12221"}


def build_queue_in_the_ui(page, requests, reviewers):
    page.goto("/apps/support-bot/queues/")
    page.get_by_test_id("new-queue").click()
    page.get_by_label("Name", exact=True).fill("Five traces")
    page.get_by_label("Reviewers per item (overlap)").fill("2")
    page.get_by_label("Named reviewers", exact=True).check()
    for user in reviewers:
        page.get_by_label(user.email).check()
    for request in requests:
        page.locator(f"input[value='{request.request_id}']").check()
    page.get_by_test_id("create-queue").click()
    expect(page.get_by_test_id("queue-name")).to_have_text("Five traces")


def review_with_the_keyboard(page, queue, thumbs: str, who: str):
    page.goto("/queues/")
    page.locator(f"[data-queue-id='{queue.pk}']").get_by_test_id("start-review").click()
    for done, key in enumerate(thumbs):
        expect(page.get_by_test_id("review-progress")).to_have_text(f"{done} / 5 done")
        expect(page.locator("#review[data-keys-ready]")).to_have_count(1)
        page.keyboard.press("?")
        expect(page.get_by_test_id("cheat-sheet")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.get_by_test_id("cheat-sheet")).to_be_hidden()
        page.keyboard.press(key)
        pressed = "thumbs-up" if key == "1" else "thumbs-down"
        expect(page.get_by_test_id(pressed)).to_have_attribute("aria-pressed", "true")
        # The first passage: focus it and mark it relevant; the second: not relevant, with a digit.
        page.keyboard.press("f")
        page.keyboard.press("r")
        first = page.get_by_test_id("chunk").nth(0)
        expect(first.get_by_test_id("chunk-relevant")).to_have_attribute("aria-pressed", "true")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("2")
        second = page.get_by_test_id("chunk").nth(1)
        expect(second.get_by_test_id("chunk-not-relevant")).to_have_attribute("aria-pressed", "true")
        page.keyboard.press("Escape")
        page.keyboard.press("c")
        page.keyboard.type(f"{who} on item {done + 1}")
        # Submit straight from the text field: what was typed must still reach the log.
        page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id("queue-finished")).to_be_visible()


def test_a_manager_builds_a_queue_two_reviewers_work_it_by_keyboard_and_the_manager_sees_kappa(
    app, manager, querier, group_querier, page_for
):
    requests = [factories.make_request(app, question=f"Trace question {i}") for i in range(6)]
    chosen = requests[:5]

    owner = page_for(manager)
    build_queue_in_the_ui(owner, chosen, [querier, group_querier])
    queue = ReviewQueue.objects.get(name="Five traces")
    assert queue.items.count() == 5 and queue.overlap == 2

    review_with_the_keyboard(page_for(querier), queue, THUMBS["a"], "A")
    review_with_the_keyboard(page_for(group_querier), queue, THUMBS["b"], "B")

    assert Reservation.objects.done().filter(item__queue=queue).count() == 10
    comments = set(
        Assessment.objects.latest_per_reviewer().filter(queue=queue).values_list("comment", flat=True)
    )
    assert comments == {f"{who} on item {i}" for who in "AB" for i in range(1, 6)}

    owner.reload()
    expect(owner.get_by_test_id("queue-progress")).to_contain_text("10 / 10 reviews done")
    rows = owner.get_by_test_id("reviewer-row")
    expect(rows).to_have_count(2)
    expect(owner.locator(f"[data-reviewer='{querier.email}'] [data-testid=reviewer-done]")).to_have_text("5")
    thumbs = owner.get_by_test_id("agreement-thumbs")
    expect(thumbs).to_contain_text("Cohen's kappa")
    expect(thumbs.get_by_test_id("agreement-value")).to_have_text("0.62")
    expect(owner.get_by_test_id("disagreement")).to_have_count(1)
    # The reviewers differ on the second item only.
    second = queue.items.get(position=1).request.request_text
    expect(owner.get_by_test_id("disagreements")).to_contain_text(second)


def test_what_a_reviewer_typed_comes_back_after_the_tab_is_closed(app, querier, page_for):
    request = factories.make_request(app)
    queue, _ = services.create_queue(
        app=app, name="Drafts", created_by=None, request_ids=[request.request_id]
    )
    page = page_for(querier)
    page.goto(f"/queues/{queue.pk}/review/")
    page.get_by_test_id("start-review").click()
    expect(page.locator("#review[data-keys-ready]")).to_have_count(1)
    # The missing-source fields are only sent on "Add"; until then the draft is all that keeps them.
    page.get_by_test_id("missing-doc-uri").fill("docs://tokens#expiry")
    page.get_by_test_id("missing-content").type("Tokens expire after 90 days")
    expect(page.get_by_test_id("draft-status")).to_have_text("Draft saved")
    page.context.close()

    again = page_for(querier)
    again.goto(f"/queues/{queue.pk}/review/")

    expect(again.get_by_test_id("missing-doc-uri")).to_have_value("docs://tokens#expiry")
    expect(again.get_by_test_id("missing-content")).to_have_value("Tokens expire after 90 days")


def test_a_draft_comment_that_never_reached_the_log_is_put_back_and_sent(app, querier, page_for):
    request = factories.make_request(app)
    queue, _ = services.create_queue(
        app=app, name="Lost text", created_by=None, request_ids=[request.request_id]
    )
    item = queue.items.get()
    claims.claim_item(item=item, reviewer=querier)
    # As left by a tab closed before the panel's save went out.
    claims.save_draft(item=item, reviewer=querier, data={"comment": "Typed just before the crash"})

    page = page_for(querier)
    page.goto(f"/queues/{queue.pk}/review/{item.pk}/")

    expect(page.get_by_test_id("feedback-comment")).to_have_value("Typed just before the crash")
    expect(page.get_by_test_id("draft-status")).to_have_text("Restored your unsent draft")
    expect(page.get_by_test_id("saved").first).to_be_visible()
    assert Assessment.objects.get(request=request, reviewer=querier).comment == "Typed just before the crash"


def test_next_by_keyboard_reserves_the_following_item_and_previous_goes_back(app, querier, page_for):
    requests = [factories.make_request(app, question=f"Skip question {i}") for i in range(2)]
    queue, _ = services.create_queue(
        app=app, name="Skipping", created_by=None, request_ids=[r.request_id for r in requests]
    )
    first, second = queue.items.order_by("position")
    page = page_for(querier)
    page.goto(f"/queues/{queue.pk}/review/")
    assert not Reservation.objects.exists()  # opening the page reserved nothing
    page.get_by_test_id("start-review").click()
    expect(page.locator(f"#review[data-item-id='{first.pk}'][data-keys-ready]")).to_have_count(1)

    page.keyboard.press("j")  # a POST: it reserves the next item
    expect(page.locator(f"#review[data-item-id='{second.pk}'][data-keys-ready]")).to_have_count(1)
    page.keyboard.press("k")  # a link back along the reviewer's own path

    expect(page.locator(f"#review[data-item-id='{first.pk}']")).to_have_count(1)
    assert set(Reservation.objects.values_list("item_id", flat=True)) == {first.pk, second.pk}
