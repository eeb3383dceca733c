"""Judging a sample of live traffic: the share asked for, within the daily cap, by a worker after
the turn is logged; imports and judges that need reviewers are never sampled."""

import json
import uuid

import pytest
from django.utils import timezone

from reviewapp.catalog.models import App
from reviewapp.chains.base import ChainResult
from reviewapp.judges import online, services
from reviewapp.judges.models import Judge, JudgeResult
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import log_turn
from tests import factories
from tests.exports.helpers import wait_until
from tests.judges.helpers import GROUNDED, UNGROUNDED, chunks
from tests.migrating import back_at

URL = "/api/v1/apps/support-bot/judges"


def turn(app, user, response, source="rest_api"):
    result = ChainResult(response=response, chunks=chunks())
    messages = [{"role": "user", "content": "How do I rotate a token?"}]
    return log_turn(app=app, user=user, source=source, messages=messages, result=result)


def test_the_share_of_turns_sampled_is_the_one_asked_for_over_a_thousand_turns():
    ids = [uuid.uuid4() for _ in range(1000)]

    taken = sum(online.sampled(7, request_id, 30) for request_id in ids)

    # Binomial(1000, 0.3): mean 300, standard deviation 14.5; 4 of them either side.
    assert 240 <= taken <= 360
    assert [online.sampled(7, i, 30) for i in ids[:50]] == [online.sampled(7, i, 30) for i in ids[:50]]
    assert not any(online.sampled(7, i, 0) for i in ids) and all(online.sampled(7, i, 100) for i in ids)


@pytest.mark.worker
def test_a_worker_judges_sampled_turns_after_they_are_logged_up_to_the_daily_cap(app, manager, celery_worker):
    judge = services.create_judge(
        app=app, user=manager, name="grounded", kind="groundedness", sample_percent=100, daily_cap=2
    )
    turns = [turn(app, manager, GROUNDED), turn(app, manager, UNGROUNDED), turn(app, manager, GROUNDED)]
    turn(app, manager, UNGROUNDED, source="import")  # an import replays traffic: never sampled

    wait_until(lambda: JudgeResult.objects.filter(online=True).count() == 2)
    # The third is over the cap: it stays unjudged.
    assert online.judge_turn(judge.pk, str(turns[2].pk)) == "over the daily cap"
    values = dict(JudgeResult.objects.values_list("request_id", "value"))
    assert values == {turns[0].pk: "pass", turns[1].pk: "fail"}
    assert all(r.version == judge.current for r in JudgeResult.objects.all())


def test_a_judge_that_needs_reviewers_cannot_sample_new_turns(app, manager, as_user):
    client = as_user(manager)

    refused = client.post(
        URL,
        json.dumps({"name": "f1", "kind": "reference", "sample_percent": 10}),
        content_type="application/json",
    )
    assert (
        refused.status_code == 400 and "needs the reviewers' feedback" in refused.json()["sample_percent"][0]
    )
    client.post(
        URL, json.dumps({"name": "grounded", "kind": "groundedness"}), content_type="application/json"
    )
    changed = client.patch(
        f"{URL}/grounded",
        json.dumps({"sample_percent": 25, "daily_cap": 50}),
        content_type="application/json",
    )
    assert (changed.json()["sample_percent"], changed.json()["daily_cap"]) == (25.0, 50)
    assert len(changed.json()["versions"]) == 1  # sampling is not a new version
    too_much = client.patch(
        f"{URL}/grounded", json.dumps({"sample_percent": 101}), content_type="application/json"
    )
    assert too_much.status_code == 400 and "sample_percent" in too_much.json()


def sampling(app) -> list:
    return App.objects.get(pk=app.pk).sampling_judges


def test_the_app_keeps_which_of_its_judges_sample_new_turns_as_they_are_made_changed_and_deleted(
    app, manager, as_user
):
    client = as_user(manager)

    def send(method, path, body=None):
        response = getattr(client, method)(path, json.dumps(body or {}), content_type="application/json")
        assert response.status_code in (200, 201, 204), response.content

    grounded = services.create_judge(
        app=app, user=manager, name="grounded", kind="groundedness", sample_percent=30
    )
    services.create_judge(app=app, user=manager, name="quiet", kind="groundedness")
    assert sampling(app) == app.sampling_judges == [[grounded.pk, 30.0]]

    send("post", URL, {"name": "also", "kind": "groundedness", "sample_percent": 5})
    also = Judge.objects.get(app=app, name="also")
    assert sampling(app) == [[also.pk, 5.0], [grounded.pk, 30.0]]  # by name, as the judges are listed
    send("patch", f"{URL}/grounded", {"sample_percent": 0})
    assert sampling(app) == [[also.pk, 5.0]]
    send("patch", f"{URL}/also", {"daily_cap": 3, "threshold": 0.5})  # neither changes what samples
    assert sampling(app) == [[also.pk, 5.0]]
    send("patch", f"{URL}/quiet", {"sample_percent": 100})
    quiet = Judge.objects.get(app=app, name="quiet")
    other = factories.make_app("other-bot")
    services.create_judge(app=other, user=None, name="grounded", kind="groundedness", sample_percent=100)
    send("delete", f"{URL}/also")
    assert sampling(app) == [[quiet.pk, 100.0]]
    send("delete", f"{URL}/quiet")
    assert sampling(app) == []


@pytest.mark.django_db(transaction=True)
def test_a_turn_finds_the_judges_that_sample_it_on_its_app_with_no_query_of_its_own(
    app, manager, django_assert_num_queries
):
    services.create_judge(app=app, user=manager, name="grounded", kind="groundedness", sample_percent=100)
    asked_of = App.objects.get(pk=app.pk)  # as the invocation read it

    # Committed on its own, so the count and the judge's draw run right after it, inside the block.
    with django_assert_num_queries(1) as queries:
        request = log_turn(
            app=asked_of,
            user=manager,
            source=Request.Source.REST_API,
            messages=[{"role": "user", "content": "How do I rotate a token?"}],
            result=ChainResult(response=GROUNDED),
        )

    assert queries.captured_queries[0]["sql"].startswith('INSERT INTO "requestlog_request"')
    assert Request.objects.filter(pk=request.pk).exists()


@pytest.mark.worker
def test_a_judge_set_to_sample_through_the_api_judges_the_turns_that_follow(
    app, manager, as_user, celery_worker
):
    client = as_user(manager)
    made = client.post(
        URL,
        json.dumps({"name": "grounded", "kind": "groundedness", "sample_percent": 100}),
        content_type="application/json",
    )
    assert made.status_code == 201
    asked_of = App.objects.get(pk=app.pk)  # as the next invocation reads it

    first, second = turn(asked_of, manager, GROUNDED), turn(asked_of, manager, UNGROUNDED)

    wait_until(lambda: JudgeResult.objects.filter(online=True).count() == 2)
    assert dict(JudgeResult.objects.values_list("request_id", "value")) == {
        first.pk: "pass",
        second.pk: "fail",
    }


@pytest.mark.django_db(transaction=True)
def test_the_migration_copies_to_each_app_the_judges_that_sample_its_turns():
    app, other, quiet = (factories.make_app(slug) for slug in ("support-bot", "other-bot", "quiet-bot"))

    before = (("judges", "0007_judge_result_request_time_order"), ("catalog", "0006_app_example_questions"))
    with back_at(*before) as (old, migrate_forward):
        OldJudge = old.get_model("judges", "Judge")

        def judge(on, name, **fields):
            return OldJudge.objects.create(app_id=on.pk, name=name, kind="groundedness", **fields).pk

        b, a = judge(app, "b", sample_percent=10), judge(app, "a", sample_percent=2.5)
        judge(app, "gone", sample_percent=50, deleted_at=timezone.now())
        judge(app, "none")
        c = judge(other, "c", sample_percent=100)
        judge(quiet, "none")
        migrate_forward()

    copies = dict(App.objects.values_list("slug", "sampling_judges"))
    assert copies == {"support-bot": [[a, 2.5], [b, 10.0]], "other-bot": [[c, 100.0]], "quiet-bot": []}
