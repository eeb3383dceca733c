"""reviewapp.client's adjudication methods against a live server."""

import pytest

from reviewapp.adjudication.models import Adjudication
from reviewapp.client import ApiError
from tests.adjudication.helpers import disputed_queue


def test_a_manager_lists_the_disputes_and_settles_one(client_as, app, manager, transactional_db):
    d = disputed_queue(app)
    client = client_as(manager)

    listed = list(client.list_adjudications("support-bot", d.queue.pk))
    assert [r["request_id"] for r in listed] == [
        str(d.thumbs.request_id),
        str(d.correction.request_id),
        str(d.passage.request_id),
    ]
    settled = client.adjudicate(
        "support-bot",
        {"id": d.queue.pk},
        str(d.passage.request_id),
        rating="positive",
        relevant={0: "relevant"},
        note="Passage 1 answers it.",
    )
    assert settled["status"] == "settled" and settled["adjudication"]["relevant"] == {"0": True}
    assert [
        r["request_id"] for r in client.list_adjudications("support-bot", d.queue.pk, status="settled")
    ] == [str(d.passage.request_id)]
    assert Adjudication.objects.get().note == "Passage 1 answers it."


def test_a_plain_reviewer_is_refused_and_bad_input_names_the_field(client_as, app, manager, transactional_db):
    d = disputed_queue(app)
    with pytest.raises(ApiError) as refused:
        list(client_as(d.first).list_adjudications("support-bot", d.queue.pk))
    assert refused.value.status == 403
    with pytest.raises(ApiError) as bad:
        client_as(manager).adjudicate("support-bot", d.queue.pk, str(d.thumbs.request_id), pick=5)
    assert bad.value.status == 400 and list(bad.value.body) == ["pick"]
