"""A context span change sums the app's feedback again in a background job on a real worker: the
settings request only queues it, and however two changes' jobs run, the last span wins."""

import pytest

from reviewapp.catalog import services as catalog
from reviewapp.catalog.models import App
from reviewapp.celery import app as celery_app
from reviewapp.feedback import summary
from reviewapp.feedback.models import RequestFeedback
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import send_job
from tests import factories
from tests.catalog.helpers import app_form
from tests.feedback.test_request_summary import feedback, rate, two_span_chunks
from tests.processes import wait_until

HX = {"HX-Request": "true"}

pytestmark = pytest.mark.django_db(transaction=True)


def sums(request) -> tuple:
    summary.catch_up()
    row = RequestFeedback.objects.get(request=request)
    return (row.passages_rated, row.passages_relevant, row.first_relevant_rank)


# Every retriever span seen: A, B, C rated; B (rank 2) and C relevant.
DEFAULT = (3, 2, 2)
# "focused" saw B and C only, both relevant; "broad" saw A and B, B relevant at rank 2.
FOCUSED = (2, 2, 1)
BROAD = (2, 1, 2)


def rated_request(app, querier):
    request = factories.make_request(app, chunks=two_span_chunks())
    feedback(request, querier, retrieval_assessments=rate(p0="not_relevant", p1="relevant", p3="relevant"))
    assert sums(request) == DEFAULT
    return request


def finished(*jobs) -> bool:
    return all(Job.objects.get(pk=job.pk).is_finished for job in jobs)


def test_the_settings_page_queues_the_rebuild_and_a_worker_runs_it(
    celery_worker, as_user, app, manager, querier
):
    request = rated_request(app, querier)

    saved = as_user(manager).post("/apps/support-bot/settings/", app_form(context_span="focused"), headers=HX)

    assert saved.status_code == 200
    job = Job.objects.get(kind=summary.REBUILD_KIND)
    assert (job.app_id, job.created_by_id) == (app.pk, manager.pk)
    wait_until(lambda: finished(job), "the rebuild job to run", timeout=60)
    job.refresh_from_db()
    assert (job.status, job.result, job.error) == ("succeeded", {"summaries": 1}, "")
    assert sums(request) == FOCUSED


def test_a_second_change_while_the_first_job_is_queued_ends_with_the_latest_span(
    request, celery_session_worker, app, manager, querier
):
    consumer = celery_session_worker.consumer
    queues = list(celery_app.amqp.queues)
    # No worker takes tasks while the two changes are made: both jobs stay queued.
    for queue in queues:
        consumer.call_soon(consumer.task_consumer.cancel_by_queue, queue)
    wait_until(
        lambda: not any(consumer.task_consumer.consuming_from(q) for q in queues), "the worker to stop taking"
    )
    rated = rated_request(app, querier)

    catalog.update_app(actor=manager, app=app, changes={"context_span": "focused"})
    first = Job.objects.get(kind=summary.REBUILD_KIND)
    catalog.update_app(actor=manager, app=app, changes={"context_span": "broad"})
    second = Job.objects.exclude(pk=first.pk).get(kind=summary.REBUILD_KIND)

    assert {first.status, Job.objects.get(pk=second.pk).status} == {"queued"}
    # Until a job has run, the sums keep the span they were made with.
    assert sums(rated) == DEFAULT
    request.getfixturevalue("celery_worker")  # takes tasks from now on (its queue emptied first)
    # The second change's job first: the first one, run last, must not bring its span back.
    assert send_job(second) and send_job(first)
    wait_until(lambda: finished(first, second), "both rebuild jobs to run", timeout=90)

    assert set(Job.objects.filter(kind=summary.REBUILD_KIND).values_list("status", flat=True)) == {
        "succeeded"
    }
    assert App.objects.get(pk=app.pk).context_span == "broad"
    assert sums(rated) == BROAD
