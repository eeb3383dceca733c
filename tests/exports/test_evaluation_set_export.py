"""The evaluation-set job: files, manifest, versions, atomicity, and the MLflow step."""

import json

import pandas as pd
import pytest
from django.conf import settings

from reviewapp.exports import services
from reviewapp.exports.evaluation_sets import export_evaluation_set
from reviewapp.exports.mlflow_step import log_evaluation_set
from reviewapp.exports.models import EvaluationSetVersion, MlflowStatus
from reviewapp.exports.selection import Filters
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
from tests.exports.helpers import relevant, reviewed


@pytest.fixture
def reviewed_requests(app, manager):
    return [
        reviewed(app, manager, "positive", retrieval_assessments=relevant(0), instructions_version=2),
        reviewed(
            app,
            manager,
            "negative",
            question="Can I undo a revoke?",
            corrected_response="No, make a new token.",
        ),
        reviewed(app, manager, "negative", question="Why?", reasons=["irrelevant"]),  # nothing to expect
    ]


@pytest.fixture
def no_earlier_datasets():
    """The MLflow store lasts the session, the database one test: a set numbered v1 again must not
    merge into the golden-v1 dataset an earlier test logged (under xdist, of another file too)."""
    from mlflow.genai.datasets import delete_dataset, search_datasets

    from reviewapp.chains.mlflow_setup import configure

    configure()
    for dataset in search_datasets(max_results=1000):
        delete_dataset(dataset_id=dataset.dataset_id)


def export(app, manager, name="golden", **kwargs) -> Job:
    job = services.start_evaluation_set_export(app=app, user=manager, name=name, filters=Filters(), **kwargs)
    return run_job(str(job.id), export_evaluation_set)


def test_the_files_hold_the_same_rows_in_jsonl_csv_and_parquet(app, manager, reviewed_requests):
    job = export(app, manager)
    assert job.status == Job.Status.SUCCEEDED, job.error
    version = job.evaluation_set_version
    folder = version.directory
    jsonl = pd.read_json(folder / "evaluation_set.jsonl", lines=True)
    parquet = pd.read_parquet(folder / "evaluation_set.parquet")
    csv = pd.read_csv(folder / "evaluation_set.csv")
    assert list(jsonl.columns) == ["request_id", "request", "expected_response", "expected_retrieved_context"]
    assert jsonl["request_id"].tolist() == [str(r.request_id) for r in reviewed_requests[:2]]
    assert jsonl["request_id"].tolist() == parquet["request_id"].tolist() == csv["request_id"].tolist()
    assert jsonl["expected_response"].tolist() == [reviewed_requests[0].response, "No, make a new token."]
    assert list(parquet["expected_retrieved_context"][0]) == [
        {"doc_uri": "docs://tokens#rotate", "content": "Tokens can be rotated in Settings."}
    ]
    assert json.loads(csv["expected_retrieved_context"][0]) == jsonl["expected_retrieved_context"][0]
    mlflow_form = [json.loads(line) for line in (folder / "mlflow_records.jsonl").open()]
    assert mlflow_form[1] == {
        "inputs": {"messages": [{"role": "user", "content": "Can I undo a revoke?"}]},
        "expectations": {"expected_response": "No, make a new token."},
    }


def test_the_manifest_says_what_was_exported_by_whom(app, manager, reviewed_requests):
    version = export(app, manager).evaluation_set_version
    manifest = json.loads((version.directory / "manifest.json").read_text())
    assert manifest["row_count"] == 2 and manifest["selected"] == 3 and manifest["left_out"] == 1
    assert manifest["request_ids"] == [str(r.request_id) for r in reviewed_requests[:2]]
    assert manifest["app_versions"] == {app.version: 2}
    assert manifest["instructions_versions"] == {"2": 1}
    assert manifest["created_by"] == "manager@example.com"
    assert manifest["version"] == 1 and manifest["rule"] == "majority"
    assert set(manifest["files"]) == {
        "evaluation_set.jsonl",
        "evaluation_set.csv",
        "evaluation_set.parquet",
        "mlflow_records.jsonl",
    }


def test_each_export_of_a_set_is_a_new_version_and_a_rerun_job_makes_none(app, manager, reviewed_requests):
    first = export(app, manager)
    second = export(app, manager)
    assert (first.evaluation_set_version.number, second.evaluation_set_version.number) == (1, 2)
    # The same job delivered again (a retry) finds its version instead of writing a third.
    Job.objects.filter(pk=second.pk).update(status=Job.Status.QUEUED)
    again = run_job(str(second.pk), export_evaluation_set)
    assert again.result["version"] == 2
    assert EvaluationSetVersion.objects.count() == 2


def test_a_job_that_finds_nothing_to_export_fails_and_leaves_no_version_or_files(app, manager):
    reviewed(app, manager, "negative", reasons=["irrelevant"])
    job = export(app, manager)
    assert job.status == Job.Status.FAILED
    assert "Nothing to export" in job.error
    assert not EvaluationSetVersion.objects.exists()
    assert not [path for path in settings.EXPORT_DIR.rglob("*") if str(job.id) in path.name]


@pytest.mark.usefixtures("no_earlier_datasets")
def test_the_mlflow_dataset_runs_through_genai_evaluate_with_a_trivial_scorer(
    app, manager, reviewed_requests
):
    import mlflow
    from mlflow.genai.datasets import get_dataset
    from mlflow.genai.scorers import scorer

    version = export(app, manager).evaluation_set_version
    log_evaluation_set(version_id=version.pk)
    version.refresh_from_db()
    assert version.mlflow_status == MlflowStatus.DONE, version.mlflow_error
    run = mlflow.get_run(version.mlflow_run_id)
    assert run.data.metrics["row_count"] == 2
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["golden-v1"]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "evaluation_set")}
    assert "evaluation_set/evaluation_set.parquet" in artifacts
    assert mlflow.get_experiment(version.mlflow_experiment_id).name == "reviewapp/support-bot"

    dataset = get_dataset(dataset_id=version.mlflow_dataset_id)
    assert len(dataset.to_df()) == 2

    @scorer
    def has_expected_response(expectations) -> bool:
        return bool(expectations.get("expected_response"))

    result = mlflow.genai.evaluate(
        data=dataset, predict_fn=lambda messages: "canned answer", scorers=[has_expected_response]
    )
    assert result.metrics["has_expected_response/mean"] == 1.0

    # A repeated MLflow step finds its work done and changes nothing.
    assert log_evaluation_set(version_id=version.pk) is None


def test_a_tracking_store_that_is_down_keeps_the_files_and_the_version_and_says_so(
    app, manager, reviewed_requests, settings, monkeypatch, as_user
):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    version = export(app, manager).evaluation_set_version
    working_store = settings.MLFLOW_TRACKING_URI
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(Exception):  # noqa: B017 - whatever the client raises, the row must record it
        log_evaluation_set(version_id=version.pk)
    version.refresh_from_db()
    assert version.mlflow_status == MlflowStatus.PENDING and version.mlflow_error
    assert (version.directory / "evaluation_set.jsonl").exists()
    page = as_user(manager).get(f"/apps/{app.slug}/exports/sets/golden/v1/")
    assert "will be tried again" in page.content.decode()

    settings.MLFLOW_TRACKING_URI = working_store
    log_evaluation_set(version_id=version.pk)
    version.refresh_from_db()
    assert version.mlflow_status == MlflowStatus.DONE and version.mlflow_attempts == 2
