"""The curation filters are one FilterSet (exports/selection.py): the screen reads them from the query
string, an export job from the Filters it was started with, and both select the same requests."""

from datetime import timedelta

import pytest

from reviewapp.exports.selection import CurationFilter, Filters, curated_requests


def screen_ids(client, app, **params) -> set[str]:
    response = client.get(f"/apps/{app.slug}/curate/", params)
    assert response.status_code == 200
    return {row["item"].request_id for row in response.context["rows"]}


def export_ids(app, **filters) -> set[str]:
    return {str(r.pk) for r in curated_requests(app=app, filters=Filters(**filters))}


@pytest.mark.parametrize(
    ("query", "filters", "expected"),
    [
        ({"agreement": "disagree"}, {"agreement": "disagree"}, {"disputed"}),
        ({"agreement": "all_agree"}, {"agreement": "all_agree"}, {"good", "settled"}),
        ({"rating": "negative"}, {"rating": "negative"}, {"disputed"}),
        ({"has_correction": "yes"}, {"has_correction": True}, {"settled"}),
        ({"has_correction": "no"}, {"has_correction": False}, {"good", "disputed", "settled"}),
        ({"reasons": "irrelevant"}, {"reasons": ("irrelevant",)}, {"disputed"}),
        ({"reviewer": "second@example.com"}, {"reviewer": "second@example.com"}, {"disputed", "settled"}),
    ],
)
def test_the_screen_and_an_export_select_the_same_requests(
    app, manager, as_user, data, query, filters, expected
):
    ids = {str(data[name].pk) for name in expected}
    assert screen_ids(as_user(manager), app, **query) == ids
    assert export_ids(app, **filters) == ids


def test_the_screen_reads_its_filters_into_the_selection_an_export_keeps(app, data):
    since = data["good"].created_at - timedelta(seconds=1)
    curation = CurationFilter(
        {"rating": "positive", "has_chunk_ratings": "no", "since": since.isoformat(), "reasons": []}, app=app
    )
    assert curation.is_valid(), curation.errors
    selection = curation.selection(request_ids=[data["good"].pk])
    assert selection == Filters(
        rating="positive", has_chunk_ratings=False, since=since, request_ids=(str(data["good"].pk),)
    )
    assert Filters.from_dict(selection.as_dict()) == selection


def test_a_filter_value_the_screen_does_not_offer_is_a_400_with_the_form_error(app, manager, as_user, data):
    response = as_user(manager).get(f"/apps/{app.slug}/curate/", {"reviewer": "nobody@example.com"})
    assert response.status_code == 400
    assert "reviewer" in response.context["filter_form"].errors
