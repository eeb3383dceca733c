"""Preference pairs as DPO trainers read them: {"prompt", "chosen", "rejected"} in TRL's
conversational form, one pair a line, decided by the reviewers' majority, ties left out."""

import json
import time
from pathlib import Path

import pytest

from reviewapp.comparisons.results import preference_lines
from reviewapp.jobs.models import Job
from tests.comparisons.helpers import imported_queue, judge
from tests.conftest import client_for


def line(question, chosen, rejected) -> str:
    return (
        json.dumps(
            {
                "prompt": [{"role": "user", "content": question}],
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
            },
            ensure_ascii=False,
        )
        + "\n"
    )


EXPECTED = line("Qué es un token?", "A1", "B1") + line("Q2", "B2", "A2")


def three_reviewers_judge(app, querier, group_querier, manager):
    queue, comparison = imported_queue(
        app,
        [
            ("Qué es un token?", "A1", "B1"),
            ("Q2", "A2", "B2"),
            ("Q3", "A3", "B3"),
            ("Q4", "A4", "B4"),
            ("Q5", "A5", "B5"),
        ],
        overlap=3,
    )
    judge(queue, querier, ["a", "b", "tie", "a", "a"])
    judge(queue, group_querier, ["a", "a", "tie", "b", "b"])
    # Changed their mind on pair 2 (a → b): the latest pick counts. Pair 5 has no third judgement.
    judge(queue, group_querier, ["a", "b", "tie", "b", "b"])
    judge(queue, manager, ["b", "tie", "a", "tie"])
    return queue, comparison


def test_majority_picks_become_chosen_and_rejected_ties_and_splits_are_left_out(
    app, querier, group_querier, manager
):
    # Pair 1: a, a, b → A.  Pair 2: b, b, tie → B.  Pair 3: tie, tie, a → a tie: out.
    # Pair 4: a, b, tie → no majority: out.  Pair 5: a, b → level: out.
    _queue, comparison = three_reviewers_judge(app, querier, group_querier, manager)
    assert "".join(preference_lines(comparison)) == EXPECTED


def test_the_queue_page_download_and_the_api_give_the_same_jsonl(app, querier, group_querier, manager):
    queue, _ = three_reviewers_judge(app, querier, group_querier, manager)
    client = client_for(manager)
    page = client.get(f"/apps/{app.slug}/queues/{queue.pk}/").content.decode()
    assert f'href="/apps/{app.slug}/queues/{queue.pk}/preferences.jsonl"' in page
    for url in (
        f"/apps/{app.slug}/queues/{queue.pk}/preferences.jsonl",
        f"/api/v1/apps/{app.slug}/review-queues/{queue.pk}/preferences",
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/jsonl; charset=utf-8"
        assert b"".join(response.streaming_content).decode() == EXPECTED


@pytest.mark.django_db(transaction=True)
def test_the_pairs_are_logged_to_the_apps_mlflow_experiment_by_a_background_job(
    app, querier, group_querier, manager, celery_worker, tmp_path
):
    from reviewapp.chains.mlflow_setup import configure

    queue, _ = three_reviewers_judge(app, querier, group_querier, manager)
    response = client_for(manager).post(
        f"/api/v1/apps/{app.slug}/review-queues/{queue.pk}/preferences/mlflow"
    )
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["job_id"])
    deadline = time.monotonic() + 120
    while not job.is_finished and time.monotonic() < deadline:
        time.sleep(0.2)
        job.refresh_from_db()
    assert (job.kind, job.status) == ("preferences_to_mlflow", "succeeded"), job.error
    assert job.result["pairs"] == 2

    mlflow = configure()
    client = mlflow.MlflowClient()
    run = client.get_run(job.result["run_id"])
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == f"reviewapp/{app.slug}"
    assert run.data.metrics["pair_count"] == 2
    assert run.data.params["queue"] == queue.name and run.data.params["format"] == "dpo-conversational"
    path = client.download_artifacts(run.info.run_id, "preferences/preferences.jsonl", str(tmp_path))
    assert Path(path).read_text(encoding="utf-8") == EXPECTED
