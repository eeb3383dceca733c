"""A judge export makes a trace for each request that has none; that trace holds the conversation,
so it names its app like a chain's own trace and stays out of any other app's import."""

import uuid

from reviewapp.catalog.services import delete_app
from reviewapp.chains.mlflow_model import APP_ID_TAG, APP_TAG
from reviewapp.chains.mlflow_setup import configure
from reviewapp.exports import services
from reviewapp.exports.judge_examples import export_judge_examples
from reviewapp.exports.mlflow_step import log_judge_export
from reviewapp.exports.models import JudgeExport, MlflowStatus
from reviewapp.exports.selection import Filters
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import start_mlflow_import
from reviewapp.requestlog.tasks import import_traces
from tests import factories
from tests.exports.helpers import reviewed


def test_a_judge_exports_trace_carries_the_apps_tags_and_no_later_app_imports_it(db, staff):
    # A fresh slug: the run's MLflow store outlives each test, and so would an experiment's traces.
    slug = f"judged-{uuid.uuid4().hex[:8]}"
    app = factories.make_app(slug)
    for i in range(2):
        reviewed(app, staff, "positive", question=f"Good {i}?")
    reviewed(app, staff, "negative", question="Off topic?", reasons=["irrelevant"])
    job = services.start_judge_export(app=app, user=staff, filters=Filters(), examples_per_judge=2)
    job = run_job(str(job.id), export_judge_examples)

    log_judge_export(export_id=job.judge_export.pk)

    exported = JudgeExport.objects.get(pk=job.judge_export.pk)
    assert exported.mlflow_status == MlflowStatus.DONE, exported.mlflow_error
    # One trace per request, however many examples it gave.
    mlflow = configure()
    experiment = mlflow.get_experiment_by_name(app.mlflow_experiment_name()).experiment_id
    made = mlflow.MlflowClient().search_traces(locations=[experiment])
    assert sorted(t.info.trace_id for t in made) == sorted(exported.trace_ids)
    for trace in made:
        assert (trace.info.tags[APP_TAG], trace.info.tags[APP_ID_TAG]) == (slug, str(app.pk))

    delete_app(actor=staff, app=app)
    later = factories.make_app(slug)
    imported = start_mlflow_import(app=later, user=staff, experiment=later.mlflow_experiment_name())
    import_traces.apply(args=[str(imported.pk)])
    imported.refresh_from_db()
    assert imported.status == Job.Status.SUCCEEDED, imported.error
    assert (imported.result["imported"], imported.result["other_apps"]) == (0, len(made))
    assert not Request.objects.filter(app=later).exists()
