"""Two versions compared: each request of version A is replayed on version B's real chain, by a
background job, as a logged turn of source `comparison`; a replay that fails marks its pair."""

import time

import pytest

from reviewapp.comparisons import services
from reviewapp.comparisons.models import ComparisonPair
from reviewapp.jobs.models import Job
from reviewapp.requestlog.models import Request
from tests.comparisons.helpers import VERSION_A, VERSION_B, a_request, two_version_app
from tests.conftest import client_for


def wait_for(job: Job, timeout: float = 60) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job.pk} still {job.status}")


def test_creating_the_queue_returns_at_once_with_every_pair_waiting_for_its_replay(
    app, manager, server_a, server_b
):
    two_version_app(app, server_a, server_b)
    originals = [a_request(app, f"Question {i}") for i in range(3)]
    queue, comparison = services.create_pairwise_queue(
        app=app,
        name="A against B",
        created_by=manager,
        version_a=VERSION_A,
        version_b=VERSION_B,
        request_ids=[r.request_id for r in originals],
    )
    # No worker runs here: nothing was replayed, and no reviewer is handed a half pair.
    assert queue.mode == "pairwise"
    assert comparison.job.kind == "comparison_replays" and comparison.job.status == "queued"
    assert list(comparison.pairs.values_list("status", flat=True)) == ["pending"] * 3
    assert queue.items.count() == 0
    assert server_b.requests == []


@pytest.mark.django_db(transaction=True)
def test_the_job_replays_each_request_on_version_b_as_a_comparison_turn_with_the_same_messages(
    app, manager, server_a, server_b, celery_worker
):
    two_version_app(app, server_a, server_b)
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where are tokens?"},
        {"role": "assistant", "content": "In Settings."},
        {"role": "user", "content": "And how do I rotate one?"},
    ]
    originals = [
        a_request(app, "unused", messages=conversation),
        a_request(app, "How long do tokens last?"),
    ]
    queue, comparison = services.create_pairwise_queue(
        app=app,
        name="A against B",
        created_by=manager,
        version_a=VERSION_A,
        version_b=VERSION_B,
        request_ids=[r.request_id for r in originals],
    )
    job = wait_for(comparison.job)

    assert job.status == "succeeded", job.error
    assert job.result == {"pairs": 2, "pending": 0, "ready": 2, "failed": 0}
    replays = Request.objects.filter(source=Request.Source.COMPARISON).order_by("created_at")
    assert [(r.app_version, r.messages, r.response, r.user) for r in replays] == [
        (VERSION_B, conversation, "Version B says: And how do I rotate one?", manager),
        (
            VERSION_B,
            [{"role": "user", "content": "How long do tokens last?"}],
            "Version B says: How long do tokens last?",
            manager,
        ),
    ]
    # Version B's own server answered, with the same messages; version A's was not called.
    assert [r["body"]["messages"] for r in server_b.requests] == [r.messages for r in originals]
    assert server_a.requests == []
    pairs = list(comparison.pairs.select_related("item"))
    assert [(p.request_a, p.request_b, p.status) for p in pairs] == [
        (originals[0], replays[0], "ready"),
        (originals[1], replays[1], "ready"),
    ]
    # Ordinary queue items, their request the original.
    assert [p.item.request_id for p in pairs] == [r.request_id for r in originals]
    assert queue.items.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_replay_that_fails_is_shown_failed_for_its_pair_and_the_others_go_on(
    app, manager, server_a, server_b, celery_worker
):
    two_version_app(app, server_a, server_b)

    def reply(messages):
        if "explode" in messages[-1]["content"]:
            raise RuntimeError("the model crashed")  # the server drops the connection
        return f"Version B says: {messages[-1]['content']}"

    server_b.reply = reply
    originals = [
        a_request(app, "Fine question"),
        a_request(app, "Please explode"),
        a_request(app, "Also fine"),
    ]
    queue, comparison = services.create_pairwise_queue(
        app=app,
        name="With a failure",
        created_by=manager,
        version_a=VERSION_A,
        version_b=VERSION_B,
        request_ids=[r.request_id for r in originals],
    )
    job = wait_for(comparison.job)

    assert job.status == "succeeded", job.error
    assert job.result == {"pairs": 3, "pending": 0, "ready": 2, "failed": 1}
    failed = ComparisonPair.objects.get(status="failed")
    assert failed.request_a == originals[1] and failed.item is None
    assert failed.request_b.status == "error" and failed.request_b.source == "comparison"
    assert failed.error == failed.request_b.error != ""
    # Only the two answered pairs are queue items.
    assert sorted(queue.items.values_list("request_id", flat=True)) == sorted(
        [originals[0].request_id, originals[2].request_id]
    )
    page = client_for(manager).get(f"/apps/{app.slug}/queues/{queue.pk}/")
    assert page.status_code == 200
    section = page.content.decode()
    assert "3 pairs: 2 ready, 0 waiting for their replay, 1 failed" in section
    assert f'Please explode <code class="muted">{originals[1].request_id}</code>' in section


def test_a_queue_of_500_requests_is_created_in_a_few_queries_whatever_its_size(
    app, manager, server_a, server_b, django_assert_max_num_queries
):
    from reviewapp.requestlog.models import Request as Logged

    two_version_app(app, server_a, server_b)
    originals = [
        Logged(app=app, app_version=VERSION_A, conversation_id=f"c{n}", source="review_app", response="r")
        for n in range(500)
    ]
    Logged.objects.bulk_create(originals)
    # 20 queries today: the pairs are written in one batch and the replays left to the job.
    with django_assert_max_num_queries(25):
        _queue, comparison = services.create_pairwise_queue(
            app=app,
            name="Five hundred",
            created_by=manager,
            version_a=VERSION_A,
            version_b=VERSION_B,
            request_ids=[r.request_id for r in originals],
        )
    assert comparison.pairs.pending().count() == 500
    assert list(comparison.pairs.values_list("request_a", flat=True)) == [r.pk for r in originals]
