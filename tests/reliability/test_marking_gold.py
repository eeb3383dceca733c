"""Marking reviewed requests as gold: the answer key taken at marking, and what cannot be gold."""

import pytest
from django.core.exceptions import ValidationError

from reviewapp.adjudication.models import Adjudication
from reviewapp.reliability import services
from reviewapp.reliability.models import GoldItem
from tests import factories
from tests.reliability.helpers import relevance, reviewers


def test_the_key_is_the_reviewers_majority_field_by_field_and_a_tie_is_named(app, manager):
    request = factories.make_request(app)
    a, b, c = reviewers(app, 3)
    factories.make_assessment(request, a, "positive", retrieval_assessments=relevance(True, True))
    factories.make_assessment(request, b, "positive", retrieval_assessments=relevance(True, False))
    factories.make_assessment(request, c, "negative", retrieval_assessments=relevance(False))

    (gold,) = services.mark_gold(app=app, request_ids=[str(request.request_id)], by=manager)

    assert (gold.rating, gold.relevant, gold.source) == ("positive", {"0": True}, "majority")
    assert gold.unsettled == ["passage 2 tied 1–1"]
    assert gold.marked_by == manager


def test_a_reviewers_change_of_mind_counts_as_their_latest_feedback(app, manager):
    request = factories.make_request(app)
    a, b = reviewers(app, 2)
    factories.make_assessment(request, a, "positive")
    factories.make_assessment(request, b, "positive")
    factories.make_assessment(request, b, "negative")
    factories.make_assessment(request, b, "")  # the latest row holds no thumbs at all

    (gold,) = services.mark_gold(app=app, request_ids=[str(request.request_id)], by=manager)

    assert gold.rating == "positive" and gold.relevant == {}


def test_the_adjudicated_label_wins_over_the_majority(app, manager):
    request = factories.make_request(app)
    a, b = reviewers(app, 2)
    factories.make_assessment(request, a, "positive")
    factories.make_assessment(request, b, "positive")
    Adjudication.objects.create(app=app, request=request, rating="negative", relevant={"1": True})

    (gold,) = services.mark_gold(app=app, request_ids=[str(request.request_id)], by=manager)

    assert (gold.rating, gold.relevant, gold.source, gold.unsettled) == (
        "negative",
        {"1": True},
        "adjudicated",
        [],
    )


def test_the_key_is_a_snapshot_until_marked_again(app, manager):
    request = factories.make_request(app)
    a, b, c = reviewers(app, 3)
    factories.make_assessment(request, a, "positive")
    services.mark_gold(app=app, request_ids=[str(request.request_id)], by=manager)
    factories.make_assessment(request, b, "negative")
    factories.make_assessment(request, c, "negative")

    assert GoldItem.objects.get(request=request).rating == "positive"
    services.mark_gold(app=app, request_ids=[str(request.request_id)], by=manager)
    assert GoldItem.objects.get(request=request).rating == "negative"
    assert GoldItem.objects.count() == 1


def test_a_request_without_feedback_cannot_be_gold_and_nothing_is_marked(app, manager):
    reviewed, unreviewed = factories.make_request(app), factories.make_request(app)
    factories.make_assessment(reviewed, manager, "positive")

    with pytest.raises(ValidationError) as error:
        services.mark_gold(
            app=app, request_ids=[str(reviewed.request_id), str(unreviewed.request_id)], by=manager
        )

    assert error.value.message_dict == {"request_ids": [f"{unreviewed.request_id} {services.NO_FEEDBACK}"]}
    assert not GoldItem.objects.exists()


def test_a_request_whose_reviewers_tie_on_everything_cannot_be_gold(app, manager):
    request = factories.make_request(app)
    a, b = reviewers(app, 2)
    factories.make_assessment(request, a, "positive", retrieval_assessments=relevance(True))
    factories.make_assessment(request, b, "negative", retrieval_assessments=relevance(False))

    with pytest.raises(ValidationError) as error:
        services.mark_gold(app=app, request_ids=[str(request.request_id)], by=manager)

    assert error.value.messages == [
        f"{request.request_id} has nothing settled to measure against "
        "(thumbs tied 1–1; passage 1 tied 1–1): adjudicate it first"
    ]


def test_ids_that_are_not_the_apps_requests_are_named(app, manager):
    other = factories.make_request(factories.make_app("other-app"))

    with pytest.raises(ValidationError) as error:
        services.mark_gold(app=app, request_ids=["nope", str(other.request_id)], by=manager)
    assert error.value.message_dict == {"request_ids": ["not a request id: nope"]}

    with pytest.raises(ValidationError) as error:
        services.mark_gold(app=app, request_ids=[str(other.request_id)], by=manager)
    assert error.value.message_dict == {"request_ids": [f"no such request in this app: {other.request_id}"]}


def test_unmarking_takes_the_request_out_of_the_gold_set(app, manager):
    request = factories.make_request(app)
    factories.make_assessment(request, manager, "positive")
    services.mark_gold(app=app, request_ids=[str(request.request_id)], by=manager)

    assert services.unmark_gold(app=app, request_ids=[str(request.request_id)]) == 1
    assert services.unmark_gold(app=app, request_ids=[str(request.request_id)]) == 0
    assert not GoldItem.objects.exists()
