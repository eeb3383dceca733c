"""What each reviewer thinks now: the latest row per (request, reviewer), defined once in
Assessment.objects (feedback/models.py) and used by every list, page, export and write-back."""

from datetime import UTC, datetime, timedelta

import pytest

from reviewapp.feedback.filters import requests_rated, requests_with_feedback
from reviewapp.feedback.models import Assessment
from reviewapp.requestlog.models import Request
from tests import factories

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rate(request, reviewer, rating, when=T0, **fields) -> Assessment:
    return factories.make_assessment(request, reviewer, rating, created_at=when, **fields)


@pytest.fixture
def req(app, querier):
    return factories.make_request(app, user=querier)


def test_the_latest_row_of_each_reviewer_is_the_effective_one(req, querier, manager):
    rate(req, querier, "positive", T0)
    changed = rate(req, querier, "negative", T0 + timedelta(minutes=1))
    theirs = rate(req, manager, "positive", T0)

    assert set(Assessment.objects.latest_per_reviewer()) == {changed, theirs}
    assert Assessment.objects.effective_for(req, querier) == changed
    assert Assessment.objects.effective_for(req, manager) == theirs


def test_rows_made_at_the_same_instant_are_ordered_by_id(req, querier):
    first = rate(req, querier, "positive", T0)
    second = rate(req, querier, "negative", T0)

    assert list(Assessment.objects.latest_per_reviewer()) == [second]
    assert list(Assessment.objects.later_than(first)) == [second]
    assert not Assessment.objects.later_than(second).exists()


def test_each_row_says_whether_it_is_in_force(req, querier):
    old = rate(req, querier, "positive", T0)
    new = rate(req, querier, "negative", T0 + timedelta(seconds=1))

    flags = dict(Assessment.objects.with_is_effective().values_list("pk", "is_effective"))
    assert flags == {old.pk: False, new.pk: True}


def test_a_reviewer_without_feedback_has_no_current_assessment(req, querier, manager):
    rate(req, manager, "positive")
    assert Assessment.objects.effective_for(req, querier) is None


def test_a_filtered_set_keeps_only_rows_that_are_latest_over_all_rows(req, querier):
    # The later row has no rating: the earlier positive one is history, not "the latest positive".
    rate(req, querier, "positive", T0)
    rate(req, querier, "", T0 + timedelta(seconds=1), comment="on second thought")

    assert not Assessment.objects.filter(rating="positive").latest_per_reviewer().exists()


def test_requests_are_filtered_by_feedback_and_by_the_ratings_in_force(app, querier, manager):
    none, changed, liked = (factories.make_request(app) for _ in range(3))
    rate(changed, querier, "positive", T0)
    rate(changed, querier, "negative", T0 + timedelta(minutes=5))
    rate(liked, querier, "positive", T0)
    requests = Request.objects.filter(app=app)

    assert set(requests_with_feedback(requests)) == {changed, liked}
    assert list(requests_with_feedback(requests, present=False)) == [none]
    assert list(requests_rated(requests, "negative")) == [changed]
    assert list(requests_rated(requests, "positive")) == [liked]


def test_the_ratings_in_force_are_counted_per_request(app, querier, manager):
    req = factories.make_request(app)
    rate(req, querier, "positive", T0)
    rate(req, querier, "negative", T0 + timedelta(minutes=1))
    rate(req, manager, "", T0, comment="no thumbs")

    summary = Assessment.objects.filter(request=req).ratings_by_request()
    assert summary == {req.pk: {"positive": 0, "negative": 1, "reviewers": 2}}
