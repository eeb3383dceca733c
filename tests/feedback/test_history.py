"""A request's feedback history: consecutive saves by one reviewer read as one card ("edited 4 times")
with what changed field by field; chunk ratings in words, passages numbered as the answer cites them."""

from datetime import UTC, datetime, timedelta

import pytest

from reviewapp.feedback.history import history_cards
from reviewapp.feedback.models import Assessment
from tests import factories

from .helpers import feedback

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def req(app, querier):
    return factories.make_request(app, user=querier, response="Open Settings, then press Rotate.")


def cards_of(req):
    return history_cards(Assessment.objects.filter(request=req).with_is_effective(), req)


def changes(card):
    return {c.label: c for c in card.changes}


def test_consecutive_saves_by_one_reviewer_are_one_card_with_what_changed(req, querier):
    feedback(req, querier, rating="negative")
    feedback(req, querier, reasons=["inaccurate"])
    feedback(req, querier, comment="Wrong menu")
    feedback(req, querier, comment="Wrong menu: it is under Security")

    [card] = cards_of(req)

    assert card.edits == 4 and card.is_effective and not card.had_before
    found = changes(card)
    assert list(found) == ["Rating", "Reasons", "Comment"]
    assert (found["Rating"].before, found["Rating"].after) == ("no rating", "Not good")
    assert found["Reasons"].added == ["inaccurate"]
    assert found["Comment"].ops == [("insert", "Wrong menu: it is under Security")]


def test_another_reviewer_in_between_starts_a_new_card_diffed_against_the_reviewers_last_state(
    req, querier, group_querier
):
    feedback(req, querier, rating="negative", reasons=["inaccurate"], comment="Wrong menu")
    feedback(req, group_querier, rating="positive")
    feedback(req, querier, rating="positive", comment="Right menu")
    feedback(req, querier, reasons=[])

    newest, middle, oldest = cards_of(req)

    assert [c.latest.reviewer for c in (newest, middle, oldest)] == [querier, group_querier, querier]
    assert (newest.edits, newest.is_effective, newest.had_before) == (2, True, True)
    assert not oldest.is_effective and middle.is_effective
    found = changes(newest)
    assert (found["Rating"].before, found["Rating"].after) == ("Not good", "Good")
    assert found["Reasons"].removed == ["inaccurate"]
    assert found["Comment"].ops == [("delete", "Wrong"), ("insert", "Right"), ("equal", " menu")]


def test_chunk_ratings_read_as_words_and_passages_by_their_citation_number(req, querier):
    feedback(req, querier, retrieval_assessments=[{"position": 1, "rating": "relevant"}])
    feedback(
        req, querier, retrieval_assessments=[{"position": 1, "rating": "not_relevant", "comment": "old"}]
    )

    [card] = cards_of(req)

    assert [(line.number, line.rating, line.comment) for line in card.chunks] == [(2, "not relevant", "old")]
    found = changes(card)
    assert (found["Passage [2]"].before, found["Passage [2]"].after) == ("not rated", "not relevant")


def test_a_correction_is_diffed_against_the_answer_then_against_itself(req, querier):
    feedback(req, querier, corrected_response="Open Security, then press Rotate.")
    [first] = cards_of(req)
    assert changes(first)["Correction (against the answer)"].ops == [
        ("equal", "Open "),
        ("delete", "Settings,"),
        ("insert", "Security,"),
        ("equal", " then press Rotate."),
    ]


def test_the_request_page_shows_one_card_per_run_of_edits(app, manager, querier, as_user, req):
    for minutes, comment in enumerate(("a", "ab", "abc")):
        factories.make_assessment(
            req,
            querier,
            "negative",
            comment=comment,
            retrieval_assessments=[
                {"position": 0, "doc_uri": "docs://tokens#rotate", "rating": "not_relevant"}
            ],
            created_at=T0 + timedelta(minutes=minutes),
        )
    html = as_user(manager).get(f"/apps/{app.slug}/requests/{req.pk}/").content.decode()

    assert html.count('data-testid="assessment"') == 1
    assert "edited 3 times" in html
    assert "passage [1] <code>docs://tokens#rotate</code>: not relevant" in html
    assert "notrelevant" not in html
    assert "<ins>abc</ins>" in html
