"""reviewapp.client's pairwise calls against a live server and a real worker."""

import pytest

from reviewapp.client import ApiError
from reviewapp.queues.models import ReviewQueue
from tests.chains.openai_server import OpenAIServer
from tests.comparisons.helpers import VERSION_A, VERSION_B, a_request, answers_as, judge, two_version_app
from tests.conftest import client_for

pytestmark = pytest.mark.worker


@pytest.fixture
def versions(app):
    """The app with two versions, each a real chain server of its own."""
    with OpenAIServer() as server_a, OpenAIServer() as server_b:
        server_a.reply, server_b.reply = answers_as("Version A"), answers_as("Version B")
        yield two_version_app(app, server_a, server_b)


def test_the_client_builds_pairwise_queues_reads_results_and_exports_preference_pairs(
    versions, manager, querier, client_as, celery_worker
):
    app = versions
    client = client_as(manager)

    made = client.create_pairwise_queue(
        "support-bot",
        "Imported pairs",
        pairs=[
            {
                "prompt": "Q1",
                "response_a": "A1",
                "response_b": "B1",
                "version_a": VERSION_A,
                "version_b": VERSION_B,
            },
            {
                "prompt": "Q2",
                "response_a": "A2",
                "response_b": "B2",
                "version_a": VERSION_A,
                "version_b": VERSION_B,
            },
        ],
    )
    assert made["job_id"] is None
    assert (made["comparison"]["kind"], made["comparison"]["ready"]) == ("imported", 2)
    queue_id = made["queue"]["id"]

    judge(ReviewQueue.objects.get(pk=queue_id), querier, ["b", "a"])
    results = client.comparison_results("support-bot", queue_id)
    assert [(v["version"], v["wins"], v["losses"], v["win_rate"]) for v in results["versions"]] == [
        (VERSION_A, 1, 1, 0.5),
        (VERSION_B, 1, 1, 0.5),
    ]
    assert client.preference_pairs("support-bot", queue_id) == [
        {
            "prompt": [{"role": "user", "content": "Q1"}],
            "chosen": [{"role": "assistant", "content": "B1"}],
            "rejected": [{"role": "assistant", "content": "A1"}],
        },
        {
            "prompt": [{"role": "user", "content": "Q2"}],
            "chosen": [{"role": "assistant", "content": "A2"}],
            "rejected": [{"role": "assistant", "content": "B2"}],
        },
    ]
    job = client.log_preference_pairs_to_mlflow("support-bot", queue_id, timeout=120)
    assert job["result"]["pairs"] == 2 and job["result"]["run_id"]

    original = a_request(app, "Replay me")
    replayed = client.create_pairwise_queue(
        "support-bot", "Versions", version_a=VERSION_A, version_b=VERSION_B, request_ids=[str(original.pk)]
    )
    finished = client.wait_for_job(replayed["job_id"], timeout=120, poll=0.2)
    assert finished["result"] == {"pairs": 1, "pending": 0, "ready": 1, "failed": 0}
    assert client.comparison_results("support-bot", replayed["queue"]["id"])["ready"] == 1

    with pytest.raises(ApiError) as refused:
        client.create_pairwise_queue("support-bot", "Same", version_a=VERSION_A, version_b=VERSION_A)
    assert refused.value.status == 400
    assert refused.value.body["version_b"] == ["pick a version other than version A"]
    with pytest.raises(ApiError) as hidden:
        client_as(querier).comparison_results("support-bot", queue_id)
    assert hidden.value.status == 403
    assert client_for(manager).get(f"/api/v1/apps/support-bot/review-queues/{queue_id}").status_code == 200
