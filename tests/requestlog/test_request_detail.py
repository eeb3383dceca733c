from datetime import UTC, datetime, timedelta

from django.urls import reverse

from tests import factories
from tests.requestlog.helpers import trace_dict

T0 = datetime(2026, 2, 1, tzinfo=UTC)


def detail(app, request):
    return reverse("request-detail", args=[app.slug, request.request_id])


def test_it_shows_the_conversation_response_chunks_and_span_tree(app, manager, as_user):
    turn = factories.make_request(
        app,
        messages=[
            {"role": "user", "content": "First question"},
            {"role": "assistant", "content": "First answer"},
            {"role": "user", "content": "Follow-up <b>question</b>"},
        ],
        response="The follow-up answer",
        trace=trace_dict("Follow-up", "The follow-up answer"),
    )
    response = as_user(manager).get(detail(app, turn))
    body = response.content.decode()
    assert response.status_code == 200
    for text in (
        "First question",
        "First answer",
        "The follow-up answer",
        "docs://tokens#rotate",
        "Tokens can be rotated",
    ):
        assert text in body
    # Text from the log is rendered inert.
    assert "Follow-up &lt;b&gt;question&lt;/b&gt;" in body
    assert 'data-testid="span-tree"' in body and "RETRIEVER" in body


def test_it_lists_all_feedback_with_the_effective_row_first_and_history_kept(
    app, manager, querier, viewer, as_user
):
    turn = factories.make_request(app)
    for rating, minutes, comment in (("positive", 0, "first thought"), ("negative", 5, "changed my mind")):
        factories.make_assessment(
            turn, querier, rating, comment=comment, created_at=T0 + timedelta(minutes=minutes)
        )
    response = as_user(manager).get(detail(app, turn))
    listed = [(a.comment, a.is_effective) for a in response.context["assessments"]]
    assert listed == [("changed my mind", True), ("first thought", False)]
    assert "in force" in response.content.decode()


def test_a_request_of_another_app_is_not_found_under_this_one(app, manager, as_user):
    other = factories.make_app("other-bot")
    foreign = factories.make_request(other)
    assert as_user(manager).get(detail(app, foreign)).status_code == 404


def test_only_managers_see_a_request(app, querier, outsider, as_user):
    turn = factories.make_request(app)
    assert as_user(querier).get(detail(app, turn)).status_code == 403
    assert as_user(outsider).get(detail(app, turn)).status_code == 404
