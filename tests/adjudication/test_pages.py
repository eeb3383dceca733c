"""The adjudication pages: the list, the side-by-side comparison, settling, and what a blind queue hides."""

import re

from reviewapp.adjudication.models import Adjudication
from tests.adjudication.helpers import disputed_queue


def base(d):
    return f"/apps/support-bot/queues/{d.queue.pk}/adjudication/"


def test_the_queue_page_links_to_the_adjudication_list(app, manager, as_user):
    d = disputed_queue(app)
    page = as_user(manager).get(f"/apps/support-bot/queues/{d.queue.pk}/").content.decode()
    assert f'href="{base(d)}"' in page


def test_the_list_shows_open_items_then_settled_ones(app, manager, as_user):
    d = disputed_queue(app)
    client = as_user(manager)
    page = client.get(base(d)).content.decode()
    assert page.count('data-testid="open-case"') == 3 and 'data-testid="nothing-settled"' in page

    response = client.post(f"{base(d)}{d.thumbs.request_id}/", {"choice": "2", "note": "Mobile matters."})
    assert (response.status_code, response["Location"]) == (302, base(d))

    page = client.get(base(d)).content.decode()
    assert page.count('data-testid="open-case"') == 2 and page.count('data-testid="settled-case"') == 1
    assert f'data-testid="settled-case" data-request-id="{d.thumbs.request_id}"' in page
    assert "Mobile matters." in page


def test_the_comparison_shows_each_reviewer_side_by_side(app, manager, as_user):
    d = disputed_queue(app)
    page = as_user(manager).get(f"{base(d)}{d.thumbs.request_id}/").content.decode()
    assert page.count('data-testid="reviewer-name"') == 2
    for text in (
        d.first.email,
        d.second.email,
        "Spot on.",
        "Misses the mobile app.",
        "incomplete",
        "on mobile, Profile › Tokens.",
    ):
        assert text in page
    assert page.count('data-testid="passage-row"') == 2


def test_a_blind_queue_shows_numbers_not_names_in_the_html(app, manager, as_user):
    d = disputed_queue(app, blind=True)
    client = as_user(manager)
    client.post(f"{base(d)}{d.thumbs.request_id}/", {"choice": "1", "note": "n"})
    for path in (base(d), f"{base(d)}{d.thumbs.request_id}/", f"{base(d)}{d.passage.request_id}/"):
        page = client.get(path).content.decode()
        assert d.first.email not in page and d.second.email not in page, path
        assert "Reviewer 1" in page and "Reviewer 2" in page


def test_own_label_without_a_rating_is_a_400_that_keeps_what_was_typed(app, manager, as_user):
    d = disputed_queue(app)
    typed = {
        "choice": "own",
        "corrected_response": "  A long careful correction.\n",
        "relevant_1": "relevant",
        "note": "Half done",
    }
    response = as_user(manager).post(f"{base(d)}{d.thumbs.request_id}/", typed)
    page = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="error-rating"' in page and "Give the final rating: positive or negative." in page
    assert "  A long careful correction.\n</textarea>" in page and "Half done</textarea>" in page
    assert '<option value="relevant" selected>' in page
    assert not Adjudication.objects.exists()


def test_writing_an_own_label_saves_it_and_the_history_shows_the_change(app, manager, as_user):
    d = disputed_queue(app)
    client = as_user(manager)
    path = f"{base(d)}{d.passage.request_id}/"
    client.post(path, {"choice": "1"})
    client.post(
        path, {"choice": "own", "rating": "negative", "relevant_0": "not_relevant", "note": "Off topic."}
    )

    adjudication = Adjudication.objects.get()
    assert (
        adjudication.rating,
        adjudication.relevant,
        adjudication.chosen_reviewer,
        adjudication.revision,
    ) == (
        "negative",
        {"0": False},
        None,
        2,
    )
    page = client.get(path).content.decode()
    assert page.count("<li>") >= 2 and "changed" in page and "settled" in page
    # The form shows the label in force, for a change of mind.
    assert re.search(r'<input[^>]*name="choice" value="own"[^>]*checked', page)
    assert not re.search(r'<input[^>]*name="choice" value="1"[^>]*checked', page)
    assert re.search(r'<input[^>]*name="rating" value="negative"[^>]*checked', page)


def test_a_named_adjudicator_finds_the_queue_on_their_own_queues_page(app, manager, as_user):
    from reviewapp.catalog.models import Level
    from tests import factories

    d = disputed_queue(app)
    expert, viewer = (
        factories.make_user("expert@example.com"),
        factories.make_user("named-viewer@example.com"),
    )
    factories.grant(app, expert, Level.CAN_QUERY)
    factories.grant(app, viewer, Level.CAN_VIEW)
    d.queue.adjudicators.add(expert, viewer)

    page = as_user(expert).get("/queues/").content.decode()
    assert page.count('data-testid="adjudicate-queue"') == 1 and f'href="{base(d)}"' in page
    # Named, but below CAN_QUERY: the rule says no, so no link either.
    assert 'data-testid="my-adjudications"' not in as_user(viewer).get("/queues/").content.decode()
    assert 'data-testid="my-adjudications"' not in as_user(d.first).get("/queues/").content.decode()
