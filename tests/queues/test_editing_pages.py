"""The owner's edit page, the queue page's items, history and instruction versions, and what a
reviewer sees of a closed queue, through the test client."""

import re

from reviewapp.catalog.models import ReviewInstructions
from reviewapp.feedback.services import record_feedback
from reviewapp.queues import claims
from reviewapp.queues.models import QueueEvent, QueueItem, Reservation, ReviewQueue
from tests import factories
from tests.queues.helpers import queue_of

BASE = "/apps/support-bot/queues/"


def make_queue(app, count=2, **options):
    requests = [factories.make_request(app, question=f"Question {i}") for i in range(count)]
    return queue_of(requests, **options)


def test_the_edit_page_shows_every_setting_as_it_is(app, manager, querier, as_user):
    queue = make_queue(app, name="Week 1", assignment="named", reviewers=[querier], gold_rate=0.1)

    response = as_user(manager).get(f"{BASE}{queue.pk}/edit/")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'value="Week 1"' in page and 'value="0.1"' in page
    boxes = re.findall(r'<input type="checkbox" name="reviewers"[^>]*>', page)
    ticked = {re.search(r'value="(\d+)"', box).group(1): "checked" in box for box in boxes}
    assert ticked == {str(manager.pk): False, str(querier.pk): True}
    for field in ("name", "overlap", "assignment", "blind", "due_at", "gold_rate", "gold_accuracy_threshold"):
        assert f'name="{field}"' in page
    assert 'name="adjudicators"' in page and 'name="closed"' in page


def test_saving_the_edit_form_changes_the_queue_and_logs_it(app, manager, querier, group_querier, as_user):
    queue = make_queue(app, name="Week 1")

    response = as_user(manager).post(
        f"{BASE}{queue.pk}/edit/",
        {
            "name": "Week 1 (b)",
            "overlap": "2",
            "assignment": "open",
            "reviewers": [querier.pk, group_querier.pk],
            "gold_rate": "0",
            "due_at": "2026-12-24T17:00",
            "closed": "on",
        },
    )

    queue.refresh_from_db()
    assert response.status_code == 302 and response["Location"] == f"{BASE}{queue.pk}/"
    assert (queue.name, queue.overlap, queue.closed_at is not None) == ("Week 1 (b)", 2, True)
    assert queue.due_at.isoformat() == "2026-12-24T17:00:00+00:00"
    changes = QueueEvent.objects.get(action="edited").changes
    assert sorted(changes) == ["closed_at", "due_at", "name", "overlap", "reviewers"]


def test_a_bad_edit_is_shown_beside_the_field_keeps_what_was_typed_and_changes_nothing(
    app, manager, querier, as_user
):
    queue = make_queue(app, name="Week 1")

    response = as_user(manager).post(
        f"{BASE}{queue.pk}/edit/",
        {
            "name": "Typed name",
            "overlap": "3",
            "assignment": "named",
            "reviewers": [querier.pk],
            "gold_rate": "0.2",
        },
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="error-reviewers"' in page and "needs at least 3 named reviewers" in page
    assert 'value="Typed name"' in page and 'value="0.2"' in page
    queue.refresh_from_db()
    assert (queue.name, queue.overlap) == ("Week 1", 1)
    assert not QueueEvent.objects.filter(action="edited").exists()


def test_only_managers_edit_and_outsiders_get_404(app, querier, outsider, as_user):
    queue = make_queue(app, name="Week 1")

    for user, status in ((querier, 403), (outsider, 404)):
        client = as_user(user)
        assert client.get(f"{BASE}{queue.pk}/edit/").status_code == status
        assert client.post(f"{BASE}{queue.pk}/edit/", {"name": "X", "overlap": "1"}).status_code == status
        assert client.post(f"{BASE}{queue.pk}/items/remove/", {"request_ids": ["x"]}).status_code == status
        assert client.post(f"{BASE}{queue.pk}/requeue/", {"version": "1"}).status_code == status
    assert ReviewQueue.objects.get(pk=queue.pk).name == "Week 1"


def test_the_queue_page_pages_its_items_fifty_at_a_time(app, manager, as_user):
    queue = make_queue(app, count=120)
    client = as_user(manager)

    first = client.get(f"{BASE}{queue.pk}/")
    last = client.get(f"{BASE}{queue.pk}/?page=3")

    assert first.content.decode().count('data-testid="queue-item"') == 50
    assert "Page 1 of 3" in first.content.decode()
    assert last.content.decode().count('data-testid="queue-item"') == 20
    assert "Question 119" in last.content.decode()


def test_the_queue_page_filters_items_by_status_and_reviewer(app, manager, querier, as_user):
    queue = make_queue(app, count=3)
    done = queue.items.get(position=0)
    record_feedback(request=done.request, reviewer=querier, changes={"rating": "positive"})
    claims.complete_item(item=done, reviewer=querier)
    client = as_user(manager)

    def shown(query):
        page = client.get(f"{BASE}{queue.pk}/?{query}").content.decode()
        return page.count('data-testid="queue-item"')

    assert (shown("status=done"), shown("status=waiting"), shown(f"reviewer={querier.email}")) == (1, 2, 1)
    bad = client.get(f"{BASE}{queue.pk}/?status=finished")
    assert bad.status_code == 400 and 'data-testid="filter-errors"' in bad.content.decode()


def test_gold_items_are_tagged_for_managers_and_left_out_of_the_progress(app, manager, as_user):
    queue = make_queue(app, count=3)
    QueueItem.objects.filter(queue=queue, position=2).update(gold=True)

    page = as_user(manager).get(f"{BASE}{queue.pk}/").content.decode()

    assert page.count('data-testid="gold"') == 1
    assert "0 / 2 reviews done · 0 / 2 items complete" in page


def test_removing_items_from_the_page_keeps_their_feedback(app, manager, querier, as_user):
    queue = make_queue(app, count=2)
    item = queue.items.get(position=0)
    record_feedback(request=item.request, reviewer=querier, changes={"rating": "negative"})
    claims.complete_item(item=item, reviewer=querier)
    client = as_user(manager)

    response = client.post(f"{BASE}{queue.pk}/items/remove/", {"request_ids": [str(item.request_id)]})

    assert response.status_code == 302
    assert list(queue.items.values_list("position", flat=True)) == [1]
    assert item.request.assessments.count() == 1
    follow = client.get(response["Location"]).content.decode()
    assert "Removed 1 item(s). Their 1 submitted review(s) stay in the assessment log." in follow
    assert "1 item(s) removed (1 submitted review(s) kept in the assessment log)" in follow
    bad = client.post(f"{BASE}{queue.pk}/items/remove/", {"request_ids": ["nope"]})
    assert bad.status_code == 400 and "not a request id: nope" in bad.content.decode()


def test_the_page_counts_labels_per_instructions_version_and_requeues_an_earlier_one(
    app, manager, querier, as_user
):
    queue = make_queue(app, count=2)
    ReviewInstructions.objects.create(app=app, version=1, markdown="v1")
    for item in queue.items.all():
        record_feedback(request=item.request, reviewer=querier, changes={"rating": "positive"})
        claims.complete_item(item=item, reviewer=querier)
    ReviewInstructions.objects.create(app=app, version=2, markdown="v2")
    client = as_user(manager)

    before = client.get(f"{BASE}{queue.pk}/").content.decode()
    response = client.post(f"{BASE}{queue.pk}/requeue/", {"version": "1"})

    assert 'data-version="1"' in before and 'data-testid="requeue-1"' in before
    assert response.status_code == 302
    assert not Reservation.objects.exists()
    after = client.get(response["Location"]).content.decode()
    assert "2 label(s) made under instructions v1 re-queued" in after
    assert 'data-testid="requeue-1"' not in after
    refused = client.post(f"{BASE}{queue.pk}/requeue/", {"version": "2"})
    assert refused.status_code == 400 and 'data-testid="error-version"' in refused.content.decode()


def test_a_reviewer_sees_a_closed_queue_as_closed_and_is_handed_nothing(app, manager, querier, as_user):
    queue = make_queue(app, count=2, assignment="named", reviewers=[querier])
    item = queue.items.first()
    queue.closed_at = queue.created_at
    queue.save(update_fields=["closed_at"])
    client = as_user(querier)

    listed = client.get("/queues/").content.decode()
    start = client.post(f"/queues/{queue.pk}/review/")
    take = client.post(f"/queues/{queue.pk}/review/{item.pk}/")
    shown = client.get(f"/queues/{queue.pk}/review/{item.pk}/")

    assert 'data-testid="queue-closed"' in listed and 'data-testid="start-review"' not in listed
    assert start.status_code == 409 and take.status_code == 409
    assert shown.status_code == 200 and 'data-testid="queue-closed"' in shown.content.decode()
    assert not Reservation.objects.exists()
