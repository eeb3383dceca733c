"""In a real browser: a manager edits a queue (name, overlap, a reviewer added, closed) and sees the
history; the reviewer then sees the queue closed."""

import pytest
from playwright.sync_api import expect

from reviewapp.queues.models import QueueEvent, ReviewQueue
from tests import factories
from tests.browser_checks import serious_violations
from tests.queues.helpers import queue_of

pytestmark = pytest.mark.browser


def test_a_manager_edits_a_queue_and_sees_the_history(
    app, manager, querier, group_querier, page_for, transactional_db
):
    requests = [factories.make_request(app, question=f"Question {i}") for i in range(2)]
    queue = queue_of(requests, name="Week 47", assignment="named", reviewers=[querier], created_by=manager)
    page = page_for(manager)

    page.goto(f"/apps/support-bot/queues/{queue.pk}/")
    page.get_by_test_id("edit-queue").click()
    assert serious_violations(page) == []
    page.get_by_label("Name", exact=True).fill("Week 47 (experts)")
    page.get_by_label("Reviewers per item (overlap)").fill("2")
    page.get_by_label(group_querier.email).check()
    page.get_by_label("Closed: hands out nothing").check()
    page.get_by_test_id("save-queue").click()

    expect(page.get_by_test_id("queue-name")).to_have_text("Week 47 (experts)")
    expect(page.get_by_test_id("queue-closed")).to_be_visible()
    expect(page.get_by_test_id("queue-settings")).to_contain_text("2 reviewers per item")
    latest = page.get_by_test_id("history-event").first
    expect(latest).to_have_attribute("data-action", "edited")
    expect(latest).to_contain_text(manager.email)
    expect(latest).to_contain_text("name: Week 47 → Week 47 (experts)")
    expect(latest).to_contain_text("reviewers per item: 1 → 2")
    expect(latest).to_contain_text(f"reviewers: {querier.email} → {group_querier.email}, {querier.email}")
    expect(latest).to_contain_text("closed")
    expect(page.get_by_test_id("history-event")).to_have_count(3)  # created, items added, edited

    queue.refresh_from_db()
    assert (queue.name, queue.overlap, queue.closed_at is not None) == ("Week 47 (experts)", 2, True)
    assert set(queue.reviewers.all()) == {querier, group_querier}
    assert QueueEvent.objects.filter(queue=queue, action="edited").count() == 1

    reviewer = page_for(group_querier)
    reviewer.goto("/queues/")
    row = reviewer.locator(f"[data-queue-id='{queue.pk}']")
    expect(row.get_by_test_id("queue-closed")).to_be_visible()
    expect(row.get_by_test_id("start-review")).to_have_count(0)
    reviewer.goto(f"/queues/{queue.pk}/review/")
    expect(reviewer.get_by_test_id("queue-closed")).to_be_visible()
    assert ReviewQueue.objects.get(pk=queue.pk).items.filter(reservations__isnull=False).count() == 0
