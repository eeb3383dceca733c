import pytest

from reviewapp.feedback.models import Assessment
from reviewapp.feedback.panel import diff_ops
from reviewapp.feedback.services import record_feedback
from reviewapp.queues.models import QueueItem, ReviewQueue
from tests import factories

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def req(app, querier):
    return factories.make_request(app, user=querier, response="Open <b>Settings</b>, then press Rotate.")


def url(req):
    return f"/apps/{req.app.slug}/requests/{req.pk}/feedback/"


def save(client, req, **data):
    return client.post(url(req), data, **HX)


def effective(req, user):
    return Assessment.objects.latest_per_reviewer().get(request=req, reviewer=user)


def test_the_page_shows_the_answer_inert_and_the_panel_without_htmx(as_user, querier, req):
    response = as_user(querier).get(url(req))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and 'data-testid="feedback-panel"' in html
    assert "&lt;b&gt;Settings&lt;/b&gt;" in html and "<b>Settings</b>" not in html


def test_an_htmx_get_returns_the_panel_alone(as_user, querier, req):
    html = as_user(querier).get(url(req), **HX).content.decode()
    assert html.lstrip().startswith("<form") and "<html" not in html


def test_a_thumb_saves_at_once_and_comes_back_pressed_with_a_saved_mark(as_user, querier, req):
    response = save(as_user(querier), req, field="rating", rating="negative")
    html = response.content.decode()
    assert response.status_code == 200
    assert effective(req, querier).rating == "negative"
    assert 'data-testid="thumbs-down" name="rating" value="negative"' in html
    assert 'aria-pressed="true"' in html and 'data-testid="saved"' in html


def test_each_control_changes_only_its_own_field(as_user, querier, req):
    client = as_user(querier)
    save(client, req, field="rating", rating="negative", comment="typed but not yet saved")
    save(client, req, field="reasons", reasons=["inaccurate", "incomplete"])
    save(client, req, field="comment", comment="<img src=x onerror=alert(1)>")
    save(client, req, field="corrected_response", corrected_response="Open Settings, then API tokens.")
    save(
        client,
        req,
        field="chunk",
        position="1",
        chunk_rating="not_relevant",
        chunk_comment_1="about revoking",
    )
    save(client, req, field="chunk", position="0", chunk_rating="relevant")
    save(client, req, field="missing_add", missing_doc_uri="docs://tokens#scopes", missing_content="")
    save(client, req, field="missing_add", missing_doc_uri="", missing_content="Rotation keeps scopes.")

    row = effective(req, querier)
    assert row.rating == "negative"
    assert row.reasons == ["inaccurate", "incomplete"]
    assert row.comment == "<img src=x onerror=alert(1)>"
    assert row.corrected_response == "Open Settings, then API tokens."
    assert [(c["position"], c["rating"], c["comment"]) for c in row.retrieval_assessments] == [
        (0, "relevant", ""),
        (1, "not_relevant", "about revoking"),
    ]
    assert row.missing_sources == [
        {"doc_uri": "docs://tokens#scopes", "content": ""},
        {"doc_uri": "", "content": "Rotation keeps scopes."},
    ]
    assert Assessment.objects.filter(request=req).count() == 8

    html = client.get(url(req)).content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert html.count('aria-pressed="true"') == 3  # thumbs down + two chunks
    assert (
        "<del>press Rotate.</del><ins>API tokens.</ins>" in html and 'data-testid="correction-diff"' in html
    )


def test_removing_a_missing_source_and_discarding_the_correction(as_user, querier, req):
    record_feedback(
        request=req,
        reviewer=querier,
        changes={
            "missing_sources": [{"doc_uri": "a"}, {"doc_uri": "b"}],
            "corrected_response": "Better.",
        },
    )
    client = as_user(querier)
    save(client, req, field="missing_remove", index="0")
    save(client, req, field="corrected_response_clear")
    row = effective(req, querier)
    assert row.missing_sources == [{"doc_uri": "b", "content": ""}]
    assert row.corrected_response is None


def test_the_untouched_answer_in_the_editor_is_no_correction(as_user, querier, req):
    save(as_user(querier), req, field="corrected_response", corrected_response=req.response)
    assert not Assessment.objects.exists()


def test_typing_an_other_reason_picks_other(as_user, querier, req):
    save(as_user(querier), req, field="other_reason", other_reason="Wrong product")
    row = effective(req, querier)
    assert (row.reasons, row.other_reason) == (["other"], "Wrong product")


def test_a_chunk_comment_before_its_rating_is_a_400_that_keeps_it_for_later(as_user, querier, req):
    response = save(as_user(querier), req, field="chunk_comment", position="0", chunk_comment_0="hm")
    assert response.status_code == 400
    assert 'data-testid="feedback-note"' in response.content.decode()
    assert not Assessment.objects.exists()


def test_bad_input_is_a_400_with_the_error_beside_the_field_and_what_was_typed_kept(as_user, querier, req):
    client = as_user(querier)
    response = save(client, req, field="missing_add", missing_doc_uri="", missing_content="")
    assert response.status_code == 400 and 'data-testid="feedback-error"' in response.content.decode()

    too_long = "x" * (100 * 1024 + 1)
    response = save(client, req, field="comment", comment=too_long)
    assert response.status_code == 400 and "Too long" in response.content.decode()

    response = save(client, req, field="missing_add", missing_doc_uri="u" * 2001, missing_content="keep me")
    assert response.status_code == 400 and 'value="keep me"' in response.content.decode()
    assert not Assessment.objects.exists()


def test_a_queue_given_by_the_panel_is_recorded(as_user, querier, group_querier, app):
    theirs = factories.make_request(app, user=group_querier)
    queue = ReviewQueue.objects.create(app=app, name="Week 1", assignment=ReviewQueue.Assignment.NAMED)
    queue.reviewers.add(querier)
    QueueItem.objects.create(queue=queue, request=theirs)

    save(as_user(querier), theirs, field="rating", rating="positive", queue=str(queue.pk))
    assert effective(theirs, querier).queue == queue


def test_a_queue_not_open_to_the_reviewer_is_refused(as_user, querier, app, req):
    queue = ReviewQueue.objects.create(app=app, name="Experts", assignment=ReviewQueue.Assignment.NAMED)
    response = save(as_user(querier), req, field="rating", rating="positive", queue=str(queue.pk))
    assert response.status_code == 400 and not Assessment.objects.exists()


def test_who_may_open_the_panel(as_user, querier, group_querier, viewer, outsider, manager, req):
    assert as_user(manager).get(url(req)).status_code == 200
    assert as_user(group_querier).get(url(req)).status_code == 404  # not their request
    assert as_user(viewer).get(url(req)).status_code == 403
    assert as_user(outsider).get(url(req)).status_code == 404
    assert as_user(None).get(url(req)).status_code == 302


def test_the_diff_marks_words_inserted_and_deleted():
    assert diff_ops("press Rotate now", "press Renew now") == [
        ("equal", "press "),
        ("delete", "Rotate"),
        ("insert", "Renew"),
        ("equal", " now"),
    ]


def test_a_space_between_two_changes_joins_them_into_one():
    assert diff_ops("then press Rotate.", "then API tokens.") == [
        ("equal", "then "),
        ("delete", "press Rotate."),
        ("insert", "API tokens."),
    ]
