"""Ten reviewers claiming at once, each in its own thread with its own database connection."""

import threading
from collections import Counter

import pytest
from django.db import connection

from reviewapp.catalog.models import Level
from reviewapp.queues import claims, services
from reviewapp.queues.models import Reservation
from tests import factories

THREADS = 10


@pytest.mark.django_db(transaction=True)
def test_ten_threads_claiming_from_a_queue_with_overlap_2_never_hand_an_item_to_more_than_2(app):
    requests = [factories.make_request(app, question=f"Q{i}") for i in range(6)]
    queue, _ = services.create_queue(
        app=app, name="race", created_by=None, overlap=2, request_ids=[r.request_id for r in requests]
    )
    users = [factories.make_user(f"racer{i}@example.com") for i in range(THREADS)]
    for user in users:
        factories.grant(app, user, Level.CAN_QUERY)
    start = threading.Barrier(THREADS)
    handed: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def reviewer(user):
        try:
            start.wait()
            while (reservation := claims.claim_next(queue=queue, reviewer=user)) is not None:
                with lock:
                    handed.append((reservation.item_id, user.email))
                claims.complete_item(item=reservation.item, reviewer=user)
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=reviewer, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    per_item = Counter(item_id for item_id, _ in handed)
    # Every item reached its overlap, none went past it, and nobody got one item twice.
    assert sorted(per_item.values()) == [2] * 6
    assert len(set(handed)) == len(handed)
    assert Counter(Reservation.objects.done().values_list("item_id", flat=True)) == per_item
