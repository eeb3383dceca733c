"""Drafts: text typed in the panel and not saved yet is kept apart from the feedback log, given back
on the next visit, and gone once the field is saved."""

import pytest

from reviewapp.feedback.models import Assessment, FeedbackDraft, MlflowSync
from tests import factories

from .helpers import feedback

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def req(app, querier):
    return factories.make_request(app, user=querier, mlflow_trace_id="tr-123")


def panel_url(req):
    return f"/apps/{req.app.slug}/requests/{req.pk}/feedback/"


def draft(client, req, field, text):
    return client.post(panel_url(req) + "draft/", {"field": field, "text": text})


def test_typing_keeps_one_draft_per_field_and_no_feedback(as_user, querier, req):
    client = as_user(querier)
    for text in ("Th", "The pass", "The passage is old"):
        assert draft(client, req, "comment", text).status_code == 200
    assert draft(client, req, "chunk_comment_1", "Outdated").status_code == 200

    assert dict(FeedbackDraft.objects.values_list("field", "text")) == {
        "comment": "The passage is old",
        "chunk_comment_1": "Outdated",
    }
    assert not Assessment.objects.exists() and not MlflowSync.objects.exists()


def test_the_panel_gives_the_draft_back_marked_as_not_saved(as_user, querier, req):
    client = as_user(querier)
    feedback(req, querier, comment="Saved words")
    draft(client, req, "comment", "Saved words, and more typed")
    draft(client, req, "corrected_response", "A better answer")

    html = client.get(panel_url(req), **HX).content.decode()
    assert "Saved words, and more typed</textarea>" in html
    assert "A better answer</textarea>" in html
    assert html.count('data-testid="draft-hint"') == 2
    # The correction box opens to show its draft.
    assert 'id="fb-' + str(req.pk) + '-correction-box" open' in html


def test_a_draft_equal_to_what_is_saved_is_no_draft(as_user, querier, req):
    client = as_user(querier)
    draft(client, req, "comment", "Same")
    feedback(req, querier, comment="Same")

    html = client.get(panel_url(req), **HX).content.decode()
    assert 'data-testid="draft-hint"' not in html


def test_saving_a_field_clears_its_draft_and_no_other(as_user, querier, req):
    client = as_user(querier)
    draft(client, req, "comment", "Final words")
    draft(client, req, "other_reason", "Half typed")

    response = client.post(panel_url(req), {"field": "comment", "comment": "Final words"}, **HX)

    assert response.status_code == 200
    assert Assessment.objects.get().comment == "Final words"
    assert list(FeedbackDraft.objects.values_list("field", flat=True)) == ["other_reason"]


def test_text_saved_any_other_way_clears_its_draft_too(as_user, querier, req):
    client = as_user(querier)
    draft(client, req, "comment", "Typed in the panel")
    draft(client, req, "chunk_comment_1", "Old passage")
    draft(client, req, "corrected_response", "Better answer")

    # As the API and a queue's "submit and next" record text.
    feedback(
        req, querier, comment="Sent by the API", retrieval_assessments=[{"position": 1, "rating": "relevant"}]
    )

    assert list(FeedbackDraft.objects.values_list("field", flat=True)) == ["corrected_response"]


def test_a_chunk_comment_that_cannot_be_saved_yet_keeps_its_draft(as_user, querier, req):
    client = as_user(querier)
    draft(client, req, "chunk_comment_0", "Too vague")
    refused = client.post(
        panel_url(req), {"field": "chunk_comment", "position": "0", "chunk_comment_0": "Too vague"}, **HX
    )
    assert refused.status_code == 400
    assert FeedbackDraft.objects.filter(field="chunk_comment_0").exists()

    rated = client.post(
        panel_url(req),
        {"field": "chunk", "position": "0", "chunk_rating": "not_relevant", "chunk_comment_0": "Too vague"},
        **HX,
    )
    assert rated.status_code == 200
    assert not FeedbackDraft.objects.exists()


@pytest.mark.parametrize(
    ("field", "text", "named"),
    [
        ("rating", "positive", "field"),
        ("chunk_comment_x", "hm", "field"),
        ("comment", "nul\x00", "text"),
        ("comment", "x" * (100 * 1024 + 1), "text"),
    ],
)
def test_a_bad_draft_is_a_400_naming_what_is_wrong(as_user, querier, req, field, text, named):
    response = draft(as_user(querier), req, field, text)
    assert response.status_code == 400
    assert named in response.json()
    assert not FeedbackDraft.objects.exists()


def test_drafts_are_per_reviewer_and_need_the_right_to_give_feedback(
    as_user, querier, group_querier, viewer, outsider, req
):
    draft(as_user(querier), req, "comment", "Mine")
    html = as_user(group_querier).get(panel_url(req), **HX).content.decode()
    assert "Mine" not in html
    assert draft(as_user(viewer), req, "comment", "x").status_code == 403
    assert draft(as_user(outsider), req, "comment", "x").status_code == 404
    assert list(FeedbackDraft.objects.values_list("text", flat=True)) == ["Mine"]


def test_a_get_of_the_draft_url_is_refused(as_user, querier, req):
    assert as_user(querier).get(panel_url(req) + "draft/").status_code == 405
