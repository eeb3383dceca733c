"""An export reads a large selection while the web goes on writing: its own writes (progress, the
job's heartbeat) must still go through on every database."""

import threading

import pytest

from reviewapp.exports.selection import Filters, iter_reviewed
from reviewapp.feedback.models import Assessment
from reviewapp.jobs.models import Job
from reviewapp.requestlog.models import Request
from tests.exports.helpers import reviewed_many


def _written_elsewhere(request: Request, reviewer) -> None:
    """A write committed by another connection, as a web process saving feedback would."""
    from django.db import connection

    def write():
        try:
            Assessment.objects.create(
                request=request,
                app=request.app,
                reviewer=reviewer,
                source_id=reviewer.email,
                rating="negative",
            )
        finally:
            connection.close()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(30)


@pytest.mark.django_db(transaction=True)
def test_an_export_can_write_its_progress_while_another_connection_writes(app, manager):
    reviewed_many(app, manager, 30)
    job = Job.objects.create(kind="export_evaluation_set", app=app)
    last_request = Request.objects.order_by("-created_at").first()

    seen = 0
    for _item in iter_reviewed(app=app, filters=Filters(), chunk_size=4):
        seen += 1
        if seen in (1, 5, 13):
            _written_elsewhere(last_request, manager)
            # The export's own write, between two reads of its selection.
            assert Job.objects.filter(pk=job.pk).update(progress_done=seen) == 1

    assert seen == 30
    job.refresh_from_db()
    assert job.progress_done == 13
