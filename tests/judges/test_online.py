"""Judging a sample of live traffic: the share asked for, within the daily cap, by a worker after
the turn is logged; imports and judges that need reviewers are never sampled."""

import json
import uuid

import pytest

from reviewapp.chains.base import ChainResult
from reviewapp.judges import online, services
from reviewapp.judges.models import JudgeResult
from reviewapp.requestlog.services import log_turn
from tests.exports.helpers import wait_until
from tests.judges.helpers import GROUNDED, UNGROUNDED, chunks

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
