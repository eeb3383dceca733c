"""Which items go to the adjudication list, and how the final label is set and changed."""

import pytest
from django.core.exceptions import ValidationError

from reviewapp.adjudication import disputes, services
from reviewapp.adjudication.models import Adjudication
from reviewapp.feedback.models import Assessment
from reviewapp.queues.models import QueueEvent
from tests.adjudication.helpers import disputed_queue, submit


def test_the_list_holds_exactly_the_items_reviewers_disagree_on_in_each_of_the_three_ways(app, manager):
    d = disputed_queue(app)

    found = disputes.cases(d.queue)

    assert {c.request.request_id: c.kinds for c in found} == {
        d.thumbs.request_id: ["thumbs", "correction"],
        d.passage.request_id: ["passages"],
        d.correction.request_id: ["correction"],
    }
    # Most disputed first: every pair disagrees on the thumbs item and the correction item.
    assert [c.request.request_id for c in found][-1] == d.passage.request_id
    assert not any(c.settled for c in found)
    [passage] = [c for c in found if c.request == d.passage]
    assert passage.disputed_passages == [0]


def test_feedback_never_submitted_in_the_queue_does_not_make_a_dispute(app, manager):
    d = disputed_queue(app)
    # A third reviewer's feedback outside the queue's slots is not the queue's business.
    from tests import factories

    other = factories.make_user("third@example.com")
    Assessment.objects.create(
        request=d.agreed, app=app, reviewer=other, source_id=other.email, rating="negative"
    )
    assert d.agreed.request_id not in {c.request.request_id for c in disputes.cases(d.queue)}


def test_each_reviewer_is_shown_with_their_whole_feedback_by_slot(app, manager):
    d = disputed_queue(app)
    case = disputes.case_for(d.queue, d.thumbs.request_id)

    first, second = case.reviews
    assert (first.number, first.label, first.rating, first.comment) == (
        1,
        d.first.email,
        "positive",
        "Spot on.",
    )
    assert (second.number, second.label, second.rating, second.reasons) == (
        2,
        d.second.email,
        "negative",
        ["incomplete"],
    )
    assert second.corrected_response.startswith("Open Settings, then API tokens; on mobile")
    assert first.chunks == {
        0: {"rating": "relevant", "comment": ""},
        1: {"rating": "not_relevant", "comment": ""},
    }


def test_a_blind_queue_shows_reviewers_by_number_only(app, manager):
    d = disputed_queue(app, blind=True)
    case = disputes.case_for(d.queue, d.thumbs.request_id)
    assert [(r.label, r.email) for r in case.reviews] == [("Reviewer 1", ""), ("Reviewer 2", "")]


def test_picking_a_reviewer_takes_their_label_and_the_item_moves_to_settled(app, manager):
    d = disputed_queue(app)
    case = disputes.case_for(d.queue, d.thumbs.request_id)

    adjudication = services.adjudicate(
        queue=d.queue, case=case, adjudicator=manager, pick=2, note="Mobile matters."
    )

    assert (adjudication.rating, adjudication.relevant, adjudication.chosen_reviewer) == (
        "negative",
        {"0": True, "1": False},
        d.second,
    )
    assert adjudication.corrected_response.startswith("Open Settings, then API tokens; on mobile")
    assert (adjudication.note, adjudication.adjudicator, adjudication.revision) == (
        "Mobile matters.",
        manager,
        1,
    )
    found = disputes.cases(d.queue)
    assert [c.request for c in found if c.settled] == [d.thumbs]
    assert d.thumbs not in [c.request for c in found if not c.settled]
    # The reviewers' own rows are untouched.
    assert Assessment.objects.filter(request=d.thumbs).count() == 2


def test_a_written_label_can_be_changed_later_and_the_audit_log_keeps_both(app, manager):
    d = disputed_queue(app)
    case = disputes.case_for(d.queue, d.passage.request_id)
    first = services.adjudicate(
        queue=d.queue, case=case, adjudicator=manager, rating="positive", relevant={"1": "relevant"}
    )
    created = first.updated_at
    case = disputes.case_for(d.queue, d.passage.request_id)
    again = services.adjudicate(
        queue=d.queue,
        case=case,
        adjudicator=manager,
        rating="positive",
        relevant={"0": "relevant", "1": "not_relevant"},
        note="Passage 2 is about revoking.",
    )

    assert again.pk == first.pk and Adjudication.objects.count() == 1
    assert (again.revision, again.relevant, again.created_at) == (
        2,
        {"0": True, "1": False},
        first.created_at,
    )
    assert again.updated_at > created
    events = list(
        QueueEvent.objects.filter(queue=d.queue, action__startswith="adjudicat").order_by("at", "id")
    )
    assert [e.action for e in events] == ["adjudicated", "adjudication_changed"]
    assert events[0].changes["request_id"] == str(d.passage.request_id)
    assert events[1].changes["fields"] == {
        "relevant": [{"1": True}, {"0": True, "1": False}],
        "note": ["", "Passage 2 is about revoking."],
    }


def test_an_item_settled_stays_listed_as_settled_once_its_reviewers_agree(app, manager):
    d = disputed_queue(app)
    case = disputes.case_for(d.queue, d.correction.request_id)
    services.adjudicate(queue=d.queue, case=case, adjudicator=manager, pick=1)
    submit(d.queue, d.correction, d.second, rating="positive", corrected_response=None)

    [settled] = [c for c in disputes.cases(d.queue) if c.settled]
    assert (settled.request, settled.kinds) == (d.correction, [])


@pytest.mark.parametrize(
    ("arguments", "errors"),
    [
        ({}, {"rating": ["Give the final rating: positive or negative."]}),
        ({"rating": "meh"}, {"rating": ["Give the final rating: positive or negative."]}),
        ({"pick": 3}, {"pick": ["No reviewer 3 on this item (reviewers: 1, 2)."]}),
        (
            {"pick": 1, "rating": "positive"},
            {"pick": ["Pick a reviewer's feedback or write the final label, not both."]},
        ),
        (
            {"rating": "positive", "relevant": {"7": "relevant"}},
            {"relevant": ["'7' is not a passage of this request (positions: 0, 1)."]},
        ),
        (
            {"rating": "positive", "relevant": {"0": "yes"}},
            {"relevant": ["Passage 0: the rating must be relevant or not_relevant."]},
        ),
        ({"rating": "positive", "note": "x" * 10241}, {"note": ["Too long: at most 10 kB."]}),
        ({"rating": "positive", "corrected_response": 5}, {"corrected_response": ["Must be a string."]}),
        ({"rating": "positive", "note": "a\x00b"}, {"note": ["Must not hold a NUL character."]}),
        ({"rating": "positive", "note": "a\ud800b"}, {"note": ["Must not hold an unpaired surrogate."]}),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_saves_nothing(app, manager, arguments, errors):
    d = disputed_queue(app)
    case = disputes.case_for(d.queue, d.thumbs.request_id)
    with pytest.raises(ValidationError) as caught:
        services.adjudicate(queue=d.queue, case=case, adjudicator=manager, **arguments)
    assert caught.value.message_dict == errors
    assert not Adjudication.objects.exists() and not QueueEvent.objects.filter(action="adjudicated").exists()


def test_an_item_nobody_disputes_has_no_case(app, manager):
    d = disputed_queue(app)
    assert disputes.case_for(d.queue, d.agreed.request_id) is None
    assert disputes.case_for(d.queue, d.same_text.request_id) is None
