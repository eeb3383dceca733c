"""A pairwise queue's preference pairs logged to the app's MLflow experiment, as a background job.

The job's run holds `preferences/preferences.jsonl` (results.py says its form), the queue and its
versions as params and the pair count as a metric. It is tagged with the job, so a job taken over
by another worker finds the run the first one started instead of making a second.
"""

import hashlib
import tempfile
from pathlib import Path

from reviewapp.jobs import services as jobs
from reviewapp.jobs.models import Job
from reviewapp.queues.models import ReviewQueue

from .models import Comparison
from .results import preference_lines

KIND = "preferences_to_mlflow"


def start(*, queue: ReviewQueue, user) -> Job:
    from .tasks import log_preferences_task

    return jobs.enqueue(
        kind=KIND, app=queue.app, user=user, params={"queue_id": queue.pk}, task=log_preferences_task
    )


def log_preferences(job: Job) -> dict:
    from reviewapp.chains.mlflow_setup import configure, experiment_id

    comparison = Comparison.objects.select_related("queue__app").get(queue_id=job.params["queue_id"])
    queue, app = comparison.queue, comparison.queue.app
    mlflow = configure()
    exp_id = experiment_id(app.mlflow_experiment_name())
    tag = f"preferences:{job.pk}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "preferences.jsonl"
        pairs = 0
        digest = hashlib.sha256()
        with path.open("w", encoding="utf-8", newline="\n") as handle:
            for line in preference_lines(comparison):
                handle.write(line)
                digest.update(line.encode())
                pairs += 1
        job.report_progress(pairs, pairs)
        found = mlflow.MlflowClient().search_runs(
            [exp_id], filter_string=f"tags.reviewapp_export = '{tag}'", max_results=1
        )
        mlflow.set_experiment(experiment_id=exp_id)
        run_args = (
            {"run_id": found[0].info.run_id}
            if found
            else {
                "experiment_id": exp_id,
                "run_name": f"preferences-{queue.pk}",
                "tags": {"reviewapp_export": tag},
            }
        )
        with mlflow.start_run(**run_args) as run:
            mlflow.log_params(
                {
                    "queue": queue.name,
                    "queue_id": queue.pk,
                    "kind": comparison.kind,
                    "version_a": comparison.version_a or "-",
                    "version_b": comparison.version_b or "-",
                    "format": "dpo-conversational",
                }
            )
            mlflow.log_metric("pair_count", pairs)
            mlflow.set_tag("preferences_sha256", digest.hexdigest())
            mlflow.log_artifact(str(path), artifact_path="preferences")
            run_id = run.info.run_id
    return {"run_id": run_id, "experiment_id": exp_id, "pairs": pairs, "sha256": digest.hexdigest()}
