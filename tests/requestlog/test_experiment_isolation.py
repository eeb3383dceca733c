"""An app imports MLflow traces only from its own experiment and those staff linked to it.

The tracking server is shared: other apps' export experiments and the experiment every chain
traces into hold other apps' conversations. Refusals read the same whether the experiment exists.
"""

import uuid

import pytest
from django.urls import reverse

from reviewapp.chains.mlflow_model import DEFAULT_EXPERIMENT
from reviewapp.chains.mlflow_setup import configure, experiment_id
from reviewapp.jobs.models import Job
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.tasks import import_traces
from tests import factories


def not_linked(ref: str) -> str:
    return f"No experiment {ref!r} is linked to this app; ask an administrator to link it"


def log_trace(exp_id: str, question: str) -> None:
    """One traced chain call in experiment `exp_id`, as a chain of some app would leave it."""
    mlflow = configure()
    from mlflow.entities import SpanType

    @mlflow.trace(name="chain", span_type=SpanType.CHAIN)
    def chain(messages: list[dict]) -> str:
        return f"An answer to: {messages[-1]['content']}"

    mlflow.set_experiment(experiment_id=exp_id)
    chain([{"role": "user", "content": question}])
    if hasattr(mlflow, "flush_trace_async_logging"):
        mlflow.flush_trace_async_logging()


@pytest.fixture
def other_app(db):
    return factories.make_app(f"billing-{uuid.uuid4().hex[:6]}", name="Billing bot")


@pytest.fixture
def foreign_experiments(other_app):
    """name → id of experiments that hold other apps' conversations, each with a trace in it."""
    experiments = {
        other_app.mlflow_experiment_name(): experiment_id(other_app.mlflow_experiment_name()),
        DEFAULT_EXPERIMENT: experiment_id(DEFAULT_EXPERIMENT),
    }
    for exp_id in experiments.values():
        log_trace(exp_id, "What is the invoice of ACME?")
    return experiments


def start(client, app, experiment: str):
    url = reverse("api-traces-import", args=[app.slug])
    return client.post(url, {"mlflow": {"experiment": experiment}}, content_type="application/json")


def link_in_admin(client, app, refs: list[str]):
    """What staff do: edit the app in the Django admin, one experiment per line."""
    app.refresh_from_db()
    form = {
        "slug": app.slug,
        "name": app.name,
        "description": app.description,
        "adapter": app.adapter,
        "adapter_config": "{}",
        "version": app.version,
        "timeout_seconds": app.timeout_seconds,
        "reasons": '["inaccurate"]',
        "linked_experiments": "\n".join(refs),
    }
    response = client.post(reverse("admin:catalog_app_change", args=[app.pk]), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    app.refresh_from_db()


@pytest.mark.parametrize("which", ["other-app-export", "shared-traces"])
@pytest.mark.parametrize("by", ["name", "id"])
def test_a_manager_cannot_import_another_apps_experiment_and_is_told_as_if_it_did_not_exist(
    app, manager, other_app, as_user, foreign_experiments, which, by
):
    name = other_app.mlflow_experiment_name() if which == "other-app-export" else DEFAULT_EXPERIMENT
    ref = name if by == "name" else foreign_experiments[name]
    client = as_user(manager)

    refused = start(client, app, ref)
    missing = start(client, app, "no-such-experiment")

    assert refused.status_code == missing.status_code == 400
    assert refused.json() == {"experiment": [not_linked(ref)]}
    assert missing.json() == {"experiment": [not_linked("no-such-experiment")]}
    if by == "id":
        assert other_app.slug not in str(refused.json()) and name not in str(refused.json())
    assert not Job.objects.exists()


def test_an_unknown_numeric_id_answers_like_a_foreign_one(app, manager, as_user, foreign_experiments):
    client = as_user(manager)
    foreign_id = foreign_experiments[DEFAULT_EXPERIMENT]

    refused = start(client, app, foreign_id).json()["experiment"][0]
    missing = start(client, app, "987654321").json()["experiment"][0]

    assert refused.replace(foreign_id, "N") == missing.replace("987654321", "N")


def test_the_import_page_refuses_a_foreign_experiment_with_the_same_message(
    app, manager, other_app, as_user, foreign_experiments
):
    ref = other_app.mlflow_experiment_name()
    response = as_user(manager).post(
        reverse("request-import", args=[app.slug]), {"source": "mlflow", "experiment": ref}
    )

    assert response.status_code == 400
    assert response.context["mlflow_form"].errors["experiment"] == [not_linked(ref)]
    assert not Job.objects.exists()


def test_an_app_imports_its_own_experiment_without_a_link(app, manager, as_user):
    own = experiment_id(app.mlflow_experiment_name())
    log_trace(own, "How do I rotate my token?")
    client = as_user(manager)

    by_name = start(client, app, app.mlflow_experiment_name())
    by_id = start(client, app, own)

    assert by_name.status_code == by_id.status_code == 202
    import_traces.apply(args=[by_name.json()["job_id"]])
    assert Job.objects.get(pk=by_name.json()["job_id"]).status == Job.Status.SUCCEEDED
    assert Request.objects.filter(app=app, messages__0__content="How do I rotate my token?").exists()


def test_after_staff_link_an_experiment_by_name_the_app_imports_it_by_id(
    app, manager, staff, other_app, as_user, foreign_experiments
):
    name = other_app.mlflow_experiment_name()
    link_in_admin(as_user(staff), app, [name])
    assert app.linked_experiments == [name]

    response = start(as_user(manager), app, foreign_experiments[name])

    assert response.status_code == 202, response.content
    job_id = response.json()["job_id"]
    import_traces.apply(args=[job_id])
    job = Job.objects.get(pk=job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["imported"] == 1
    assert Request.objects.get(app=app).messages[-1]["content"] == "What is the invoice of ACME?"


def test_a_link_by_id_lets_the_app_import_by_name(app, manager, staff, as_user, foreign_experiments):
    link_in_admin(as_user(staff), app, [foreign_experiments[DEFAULT_EXPERIMENT]])

    response = start(as_user(manager), app, DEFAULT_EXPERIMENT)

    assert response.status_code == 202, response.content


def test_the_worker_refuses_a_job_whose_experiment_was_unlinked_since(
    app, manager, staff, other_app, as_user, foreign_experiments
):
    name = other_app.mlflow_experiment_name()
    link_in_admin(as_user(staff), app, [name])
    job_id = start(as_user(manager), app, name).json()["job_id"]
    link_in_admin(as_user(staff), app, [])

    import_traces.apply(args=[job_id])

    job = Job.objects.get(pk=job_id)
    assert job.status == Job.Status.FAILED
    assert not_linked(name) in job.error
    assert not Request.objects.filter(app=app).exists()


def test_managers_cannot_link_experiments_through_the_api(app, manager, other_app, as_user):
    response = as_user(manager).patch(
        reverse("api-app-detail", args=[app.slug]),
        {"linked_experiments": [other_app.mlflow_experiment_name()]},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "linked_experiments" in response.json()
    app.refresh_from_db()
    assert app.linked_experiments == []


def test_the_app_settings_service_refuses_to_change_linked_experiments(app, manager):
    from django.core.exceptions import ValidationError

    from reviewapp.catalog.services import update_app

    with pytest.raises(ValidationError) as refused:
        update_app(actor=manager, app=app, changes={"linked_experiments": [DEFAULT_EXPERIMENT]})

    assert "linked_experiments" in refused.value.message_dict
    app.refresh_from_db()
    assert app.linked_experiments == []


def test_managers_cannot_open_the_admin_to_link_experiments(app, manager, as_user):
    response = as_user(manager).get(reverse("admin:catalog_app_change", args=[app.pk]))

    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_admin_refuses_too_many_linked_experiments(app, staff, as_user):
    client = as_user(staff)
    refs = [f"experiment-{i}" for i in range(51)]
    app.refresh_from_db()
    form = {
        "slug": app.slug,
        "name": app.name,
        "adapter": app.adapter,
        "adapter_config": "{}",
        "version": app.version,
        "timeout_seconds": app.timeout_seconds,
        "reasons": "[]",
        "linked_experiments": "\n".join(refs),
    }

    response = client.post(reverse("admin:catalog_app_change", args=[app.pk]), form)

    assert response.status_code == 200
    assert "at most 50 experiments" in response.content.decode()
    app.refresh_from_db()
    assert app.linked_experiments == []


def test_the_import_page_suggests_the_experiments_the_app_may_import_from(app, manager, other_app, as_user):
    app.linked_experiments = ["team-shared-evals"]
    app.save(update_fields=["linked_experiments"])

    page = as_user(manager).get(reverse("request-import", args=[app.slug])).content.decode()

    assert f'<option value="{app.mlflow_experiment_name()}">' in page
    assert '<option value="team-shared-evals">' in page
    assert "ask an administrator to link another experiment" in page.lower()
    assert other_app.slug not in page and DEFAULT_EXPERIMENT not in page


def log_app_trace(exp_id: str, question: str, app_slug: str | None) -> None:
    """A traced chain call tagged with the app whose chain made it (as the MLflow-model adapter tags)."""
    mlflow = configure()
    from mlflow.entities import SpanType

    @mlflow.trace(name="chain", span_type=SpanType.CHAIN)
    def chain(messages: list[dict]) -> str:
        if app_slug:
            mlflow.update_current_trace(tags={"reviewapp.app": app_slug})
        return f"An answer to: {messages[-1]['content']}"

    mlflow.set_experiment(experiment_id=exp_id)
    chain([{"role": "user", "content": question}])


def test_an_import_leaves_out_traces_another_app_logged_and_counts_them_apart(
    app, manager, staff, other_app, as_user
):
    shared = f"shared-{uuid.uuid4().hex[:6]}"
    shared_id = experiment_id(shared)
    log_app_trace(shared_id, "Ours: how do I reset my password?", app.slug)
    log_app_trace(shared_id, "Theirs: what is on invoice 42?", other_app.slug)
    log_app_trace(shared_id, "Theirs: refund invoice 43", other_app.slug)
    log_app_trace(shared_id, "Untagged: traced outside reviewapp", None)
    link_in_admin(as_user(staff), app, [shared])
    client = as_user(manager)

    response = start(client, app, shared)
    import_traces.apply(args=[response.json()["job_id"]])

    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert (job.result["imported"], job.result["other_apps"], job.result["bad_rows"]) == (2, 2, 0)
    questions = sorted(r.messages[-1]["content"] for r in Request.objects.filter(app=app))
    assert questions == ["Ours: how do I reset my password?", "Untagged: traced outside reviewapp"]
    page = client.get(reverse("job-progress", args=[job.pk])).content.decode()
    assert "2 traces belong to another app and were left out." in page


def test_an_import_of_the_apps_own_experiment_keeps_its_own_traces(staff, other_app, as_user):
    # A fresh slug: the run's MLflow store outlives each test, and so would an experiment's traces.
    app = factories.make_app(f"own-{uuid.uuid4().hex[:6]}", name="Own")
    own = experiment_id(app.mlflow_experiment_name())
    log_app_trace(own, "Mine", app.slug)
    log_app_trace(own, "A stray one", other_app.slug)

    response = start(as_user(staff), app, app.mlflow_experiment_name())
    import_traces.apply(args=[response.json()["job_id"]])

    job = Job.objects.get(pk=response.json()["job_id"])
    assert (job.result["imported"], job.result["other_apps"]) == (1, 1)
    assert [r.messages[-1]["content"] for r in Request.objects.filter(app=app)] == ["Mine"]
