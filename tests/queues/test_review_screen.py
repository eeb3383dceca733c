"""The reviewer's screens through the test client: my queues, one item, submit, drafts, blind mode."""

import json

import pytest

from reviewapp.catalog.models import Level, ReviewInstructions
from reviewapp.feedback.models import Assessment
from reviewapp.feedback.services import record_feedback
from reviewapp.queues import claims, services
from reviewapp.queues.models import Draft, Reservation
from tests import factories
from tests.queues.helpers import queue_of

TRACE = {
    "info": {},
    "data": {
        "spans": [
            {
                "span_id": "root",
                "name": "rag_chain",
                "start_time_unix_nano": 0,
                "end_time_unix_nano": 12_000_000,
                "attributes": {"mlflow.spanType": '"CHAIN"', "mlflow.spanInputs": '{"q": "tokens?"}'},
            },
            {
                "span_id": "ret",
                "parent_span_id": "root",
                "name": "docs_retriever",
                "start_time_unix_nano": 1_000_000,
                "end_time_unix_nano": 4_000_000,
                "attributes": {"mlflow.spanType": '"RETRIEVER"'},
            },
        ]
    },
}


@pytest.fixture
def queue(app, manager, querier, group_querier):
    requests = [
        factories.make_request(
            app,
            messages=[
                {"role": "user", "content": f"Earlier question {i}"},
                {"role": "assistant", "content": f"Earlier answer {i}"},
                {"role": "user", "content": f"Follow-up question {i}"},
            ],
            response=f"Answer number {i}",
            trace=TRACE,
        )
        for i in range(3)
    ]
    ReviewInstructions.objects.create(app=app, version=1, markdown="Check the **sources** first.")
    return queue_of(
        requests,
        name="Traces",
        created_by=manager,
        overlap=2,
        assignment="named",
        reviewers=[querier, group_querier],
    )


def review_url(queue, item=None):
    return f"/queues/{queue.pk}/review/" + (f"{item.pk}/" if item else "")


def test_my_queues_lists_the_queues_a_reviewer_may_review_with_progress(queue, querier, viewer, as_user):
    page = as_user(querier).get("/queues/").content.decode()

    assert "Traces" in page and "0 / 3 done" in page
    assert "Traces" not in as_user(viewer).get("/queues/").content.decode()


def test_starting_a_queue_reserves_the_first_item_and_shows_the_whole_turn(queue, querier, as_user):
    client = as_user(querier)

    start = client.get(review_url(queue))
    assert start.status_code == 200 and 'data-testid="start-review"' in start.content.decode()
    response = client.post(review_url(queue))
    item = queue.items.order_by("position").first()
    assert response.status_code == 302 and response["Location"] == review_url(queue, item)
    page = client.get(review_url(queue, item)).content.decode()

    for text in ("Earlier question 0", "Earlier answer 0", "Follow-up question 0", "Answer number 0"):
        assert text in page
    assert "<strong>sources</strong>" in page  # the app's instructions, as Markdown
    assert 'data-testid="span-tree"' in page and "docs_retriever" in page
    assert 'data-testid="feedback-panel"' in page and "docs://tokens#rotate" in page
    assert Reservation.objects.get(reviewer=querier).item == item


def test_submitting_without_a_rating_is_refused_with_a_form_error(queue, querier, as_user):
    client = as_user(querier)
    item = queue.items.order_by("position").first()
    client.post(review_url(queue, item))

    response = client.post(review_url(queue, item) + "submit/")

    assert response.status_code == 400
    assert "thumbs up or down" in response.content.decode()
    assert Reservation.objects.get(reviewer=querier).done_at is None


def test_submit_and_next_marks_the_item_done_and_moves_on(queue, querier, as_user):
    client = as_user(querier)
    first, second = queue.items.order_by("position")[:2]
    client.post(review_url(queue, first))
    record_feedback(request=first.request, reviewer=querier, changes={"rating": "positive"}, queue=queue)
    claims.save_draft(item=first, reviewer=querier, data={"comment": "typed"})

    response = client.post(review_url(queue, first) + "submit/")

    assert response.status_code == 302 and response["Location"] == review_url(queue, second)
    assert Reservation.objects.get(reviewer=querier, item=second).done_at is None
    assert Reservation.objects.get(reviewer=querier, item=first).done_at is not None
    assert not Draft.objects.filter(item=first).exists()
    assert "1 / 3 done" in client.get("/queues/").content.decode()


def test_previous_and_next_links_follow_the_reviewers_own_path(queue, querier, as_user):
    client = as_user(querier)
    first, second = queue.items.order_by("position")[:2]
    client.post(review_url(queue, first))
    record_feedback(request=first.request, reviewer=querier, changes={"rating": "negative"})
    client.post(review_url(queue, first) + "submit/")

    page = client.get(review_url(queue, second)).content.decode()
    back = client.get(review_url(queue, first)).content.decode()

    assert f'id="review-prev" href="{review_url(queue, first)}"' in page
    assert f'id="review-next" href="{review_url(queue, second)}"' in back


def test_a_draft_is_kept_on_the_server_and_handed_back(queue, querier, as_user):
    client = as_user(querier)
    item = queue.items.order_by("position").first()
    client.post(review_url(queue, item))

    saved = client.post(
        review_url(queue, item) + "draft/", {"data": json.dumps({"comment": "Half-typed thought"})}
    )
    page = client.get(review_url(queue, item)).content.decode()

    assert saved.status_code == 200
    assert Draft.objects.get(item=item, reviewer=querier).data == {"comment": "Half-typed thought"}
    assert "Half-typed thought" in page  # in the json_script the page restores from


@pytest.mark.parametrize("data", ["not json", "[1, 2]", json.dumps({"comment": 5})])
def test_a_malformed_draft_is_a_400_naming_data(queue, querier, as_user, data):
    client = as_user(querier)
    item = queue.items.first()

    response = client.post(review_url(queue, item) + "draft/", {"data": data})

    assert response.status_code == 400
    assert "data" in response.json()
    assert not Draft.objects.exists()


def test_an_item_with_all_its_reviewers_is_not_handed_to_a_third(app, queue, querier, group_querier, as_user):
    third = factories.make_user("third@example.com")
    factories.grant(app, third, Level.CAN_QUERY)
    queue.reviewers.add(third)
    item = queue.items.order_by("position").first()
    as_user(querier).post(review_url(queue, item))
    as_user(group_querier).post(review_url(queue, item))

    shown = as_user(third).get(review_url(queue, item))
    taken = as_user(third).post(review_url(queue, item))

    assert shown.status_code == taken.status_code == 409
    assert "already has its 2 reviewers" in taken.content.decode()
    assert not Reservation.objects.filter(reviewer=third).exists()


def test_people_outside_the_queue_cannot_review_it(app, queue, viewer, outsider, as_user):
    open_querier = factories.make_user("notnamed@example.com")
    factories.grant(app, open_querier, Level.CAN_QUERY)

    assert as_user(outsider).get(review_url(queue)).status_code == 404
    assert as_user(viewer).get(review_url(queue)).status_code == 403
    assert as_user(open_querier).get(review_url(queue)).status_code == 403


def test_blind_mode_hides_others_feedback_until_the_reviewer_has_submitted(
    app, manager, querier, group_querier, as_user
):
    request = factories.make_request(app)
    blind, _ = services.create_queue(
        app=app,
        name="Blind",
        created_by=manager,
        overlap=2,
        blind=True,
        assignment="named",
        reviewers=[querier, group_querier],
        request_ids=[request.request_id],
    )
    item = blind.items.get()
    record_feedback(
        request=request, reviewer=querier, changes={"rating": "negative", "comment": "Secret view"}
    )
    as_user(querier).post(review_url(blind, item) + "submit/")
    other = as_user(group_querier)
    other.post(review_url(blind, item))

    before = other.get(review_url(blind, item)).content.decode()
    record_feedback(request=request, reviewer=group_querier, changes={"rating": "positive"})
    other.post(review_url(blind, item) + "submit/")
    after = other.get(review_url(blind, item)).content.decode()

    assert "Secret view" not in before and "blind-note" in before
    assert "Secret view" in after and querier.email in after


def test_without_blind_mode_others_feedback_is_shown_at_once(queue, querier, group_querier, as_user):
    item = queue.items.order_by("position").first()
    record_feedback(
        request=item.request, reviewer=querier, changes={"rating": "negative", "comment": "Open view"}
    )

    client = as_user(group_querier)
    client.post(review_url(queue, item))
    page = client.get(review_url(queue, item)).content.decode()

    assert "Open view" in page


def test_others_passage_ratings_read_in_words_numbered_as_the_answer_cites_them(
    queue, querier, group_querier, as_user
):
    item = queue.items.order_by("position").first()
    record_feedback(
        request=item.request,
        reviewer=querier,
        changes={
            "rating": "positive",
            "reasons": ["inaccurate"],
            "retrieval_assessments": [{"position": 1, "rating": "not_relevant"}],
        },
    )

    client = as_user(group_querier)
    client.post(review_url(queue, item))
    others = client.get(review_url(queue, item)).content.decode().split('data-testid="others-feedback"')[1]

    assert "passage [2]: not relevant" in others and "notrelevant" not in others and "#1" not in others
    # Reasons are what was wrong: a thumbs up shows none (kept on the row, see the panel).
    assert "inaccurate" not in others


def test_submit_records_text_the_panel_had_not_sent_yet(queue, querier, as_user):
    item = queue.items.order_by("position").first()
    record_feedback(request=item.request, reviewer=querier, changes={"rating": "positive", "comment": "Half"})
    typed = {"comment": "Half a sentence, now whole", "corrected_response": item.request.response}

    response = as_user(querier).post(review_url(queue, item) + "submit/", {"typed": json.dumps(typed)})

    assert response.status_code == 302
    latest = Assessment.objects.filter(request=item.request, reviewer=querier).latest_per_reviewer().get()
    assert latest.comment == "Half a sentence, now whole"
    assert latest.corrected_response is None  # the untouched answer is no correction
    assert latest.queue == queue and latest.rating == "positive"


def test_a_submit_with_typed_text_but_no_rating_records_nothing_and_is_a_400(queue, querier, as_user):
    item = queue.items.order_by("position").first()

    response = as_user(querier).post(
        review_url(queue, item) + "submit/", {"typed": json.dumps({"comment": "x"})}
    )

    assert response.status_code == 400
    assert not Assessment.objects.exists()


def test_a_garbled_submit_is_a_400_and_marks_nothing_done(queue, querier, as_user):
    item = queue.items.order_by("position").first()
    record_feedback(request=item.request, reviewer=querier, changes={"rating": "positive"})

    response = as_user(querier).post(review_url(queue, item) + "submit/", {"typed": "{not json"})

    assert response.status_code == 400
    assert not Reservation.objects.filter(done_at__isnull=False).exists()


def test_next_on_an_unfinished_item_skips_to_the_following_one(queue, querier, as_user):
    client = as_user(querier)
    first, second = queue.items.order_by("position")[:2]
    client.post(review_url(queue, first))
    page = client.get(review_url(queue, first)).content.decode()
    assert f'action="{review_url(queue)}"' in page and f'name="after" value="{first.pk}"' in page

    response = client.post(review_url(queue), {"after": first.pk})

    assert response["Location"] == review_url(queue, second)


def test_skipping_ahead_after_a_superscript_item_starts_from_the_top(queue, querier, as_user):
    client = as_user(querier)

    assert client.get(review_url(queue) + "?after=²").status_code == 200
    response = client.post(review_url(queue), {"after": "²"})

    assert response.status_code == 302
    assert response["Location"] == review_url(queue, queue.items.order_by("position").first())


def test_an_answer_that_stopped_part_way_says_so_and_why(queue, querier, as_user):
    client = as_user(querier)
    item = queue.items.order_by("position").first()
    item.request.status = "incomplete"
    item.request.error = "The stream was cut off after 30 s."
    item.request.text_altered = True
    item.request.save(update_fields=["status", "error", "text_altered"])
    client.post(review_url(queue, item))

    page = client.get(review_url(queue, item)).content.decode()

    assert "The answer stopped before it was finished: The stream was cut off after 30 s." in page
    assert "Some characters of this answer could not be stored and were replaced (�)" in page
    assert "The chain failed" not in page


def test_a_whole_answer_has_no_incomplete_notice(queue, querier, as_user):
    client = as_user(querier)
    item = queue.items.order_by("position").first()
    client.post(review_url(queue, item))

    page = client.get(review_url(queue, item)).content.decode()

    assert 'data-testid="incomplete-notice"' not in page and 'data-testid="text-altered"' not in page
