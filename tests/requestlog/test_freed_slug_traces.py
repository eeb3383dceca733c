"""A deleted app's conversations never reach the app that takes its slug next.

Deleting an app frees its slug, and the next app with that slug owns the same experiment name, so
the traces in it are told apart by the app id they are tagged with (and, for traces tagged before
ids were, by their slug and time). Real chain calls through the demo chain write the traces.
"""

import uuid

import pytest

from reviewapp.catalog.services import delete_app
from reviewapp.chains.adapters import get_adapter
from reviewapp.chains.mlflow_model import APP_ID_TAG, APP_TAG
from reviewapp.chains.mlflow_setup import configure, experiment_id
from reviewapp.jobs.models import Job
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import start_mlflow_import
from reviewapp.requestlog.tasks import import_traces
from tests import factories


def ask(app, question: str) -> str:
    """One real turn of the app's chain, traced into its experiment; the trace id."""
    result = get_adapter(app).invoke([{"role": "user", "content": question}], timeout=60)
    configure().flush_trace_async_logging()
    return result.mlflow_trace_id


def log_slug_only_trace(exp_id: str, question: str, slug: str) -> None:
    """A chain trace tagged as the adapter tagged them before app ids were: by slug only."""
    mlflow = configure()

    @mlflow.trace(name="chain", span_type="CHAIN")
    def chain(messages: list[dict]) -> str:
        mlflow.update_current_trace(tags={APP_TAG: slug})
        return f"An answer to: {messages[-1]['content']}"

    mlflow.set_experiment(experiment_id=exp_id)
    chain([{"role": "user", "content": question}])
    mlflow.flush_trace_async_logging()


def import_own_experiment(app, user) -> Job:
    job = start_mlflow_import(app=app, user=user, experiment=app.mlflow_experiment_name())
    import_traces.apply(args=[str(job.pk)])
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    return job


def questions_of(app) -> list[str]:
    return sorted(r.messages[-1]["content"] for r in Request.objects.filter(app=app))


@pytest.fixture
def slug():
    # A fresh slug: the run's MLflow store outlives each test, and so would an experiment's traces.
    return f"x-{uuid.uuid4().hex[:8]}"


def test_chain_traces_are_tagged_with_the_apps_slug_and_id(db, demo_model_uri, slug):
    app = factories.make_app(slug)

    trace = configure().get_trace(ask(app, "Who am I traced for?"))

    assert trace.info.tags[APP_TAG] == slug
    assert trace.info.tags[APP_ID_TAG] == str(app.pk)


def test_an_app_that_takes_a_deleted_apps_slug_imports_none_of_its_turns(db, demo_model_uri, staff, slug):
    old = factories.make_app(slug)
    ask(old, "Old app: what is my account number?")
    ask(old, "Old app: reset my password")
    delete_app(actor=staff, app=old)
    new = factories.make_app(slug)
    assert new.mlflow_experiment_name() == f"reviewapp/{slug}"
    ask(new, "New app: how do I start?")

    job = import_own_experiment(new, staff)

    assert (job.result["imported"], job.result["other_apps"], job.result["bad_rows"]) == (1, 2, 0)
    assert questions_of(new) == ["New app: how do I start?"]


def test_traces_tagged_by_slug_only_are_left_out_when_older_than_the_app_or_of_another_slug(db, staff, slug):
    exp_id = experiment_id(f"reviewapp/{slug}")
    log_slug_only_trace(exp_id, "Before: the deleted app's turn", slug)
    app = factories.make_app(slug)
    log_slug_only_trace(exp_id, "After: this app's turn", slug)
    log_slug_only_trace(exp_id, "Another slug's turn", "someone-else")

    job = import_own_experiment(app, staff)

    assert (job.result["imported"], job.result["other_apps"]) == (1, 2)
    assert questions_of(app) == ["After: this app's turn"]
