"""The "Fill a queue by rules" page: preview (whole page, or the form section for htmx), fill a new
or an open queue, errors beside their fields with what was typed kept, and who may open it."""

import re

import pytest

from reviewapp.queues.models import QueueEvent, QueueItem, ReviewQueue
from tests import factories

from .helpers import queue_of
from .sampling_data import draw_order, seed_world

URL = "/apps/support-bot/queues/fill/"


@pytest.fixture
def world(app, manager, querier):
    return seed_world(app, querier, manager)


def form(**changes) -> dict:
    return {"queue": "", "name": "", "overlap": "1", "target": "100"} | changes


def test_a_preview_shows_the_counts_and_the_first_rows_and_writes_nothing(world, manager, as_user):
    response = as_user(manager).post(URL, form(thumbs_down="on", action="preview", seed="3"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" in page
    assert re.search(r'data-testid="preview-selected">2<', page) and re.search(
        r'data-testid="preview-matching">2<', page
    )
    shown = re.findall(r'<tr data-request-id="([0-9a-f-]+)"', page)
    assert shown == [str(i) for i in draw_order(world.ids("a", "c"), 3)]
    assert 'name="seed" value="3"' in page
    assert (
        not ReviewQueue.objects.exists() and not QueueEvent.objects.filter(action="filled_by_rules").exists()
    )


def test_a_preview_through_htmx_answers_the_form_section_with_the_seed_to_fill_with(world, manager, as_user):
    response = as_user(manager).post(
        URL, form(unreviewed="on", action="preview", name="Sample"), headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page and page.lstrip().startswith('<section id="fill-form"')
    assert re.search(r'data-testid="preview-selected">3<', page)
    seed = int(re.search(r'name="seed" value="(\d+)"', page).group(1))
    assert 'value="Sample"' in page  # what was typed stays

    filled = as_user(manager).post(
        URL, form(unreviewed="on", action="fill", name="Sample", target="2", seed=str(seed))
    )

    queue = ReviewQueue.objects.get(name="Sample")
    assert filled.status_code == 302 and filled["Location"] == f"/apps/support-bot/queues/{queue.pk}/"
    assert (
        list(queue.items.order_by("position").values_list("request_id", flat=True))
        == draw_order(world.ids("e", "f", "g"), seed)[:2]
    )


def test_filling_an_open_queue_adds_to_it_and_says_what_was_left_out(world, manager, as_user):
    target = queue_of([world.by_name["a"]], name="Target")
    queue_of([world.by_name["e"]], name="Elsewhere")
    client = as_user(manager)

    response = client.post(
        URL, form(queue=str(target.pk), unreviewed="on", action="fill", seed="1"), follow=True
    )

    assert response.redirect_chain == [(f"/apps/support-bot/queues/{target.pk}/", 302)]
    assert set(target.items.values_list("request_id", flat=True)) == world.ids("a", "f", "g")
    assert (
        "Added 2 requests to “Target”. 1 waiting in another open queue was left out."
        in response.content.decode()
    )


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"target": "0"}, "target", "must be a whole number from 1 to 10,000"),
        ({"target": "10001"}, "target", "must be a whole number from 1 to 10,000"),
        ({"since": "2026-03-02T00:00", "until": "2026-03-01T00:00"}, "until", "must be later than since"),
        ({"chunk_precision_below": "1.5"}, "chunk_precision_below", "must be a number above 0 and at most 1"),
        ({"chunk_precision_below": "nan"}, "chunk_precision_below", "Enter a number."),
        (
            {"app_versions": ["v9"]},
            "app_versions",
            "Select a valid choice. v9 is not one of the available choices.",
        ),
        ({"judge": "f1"}, "judge", "with a judge, ask for judge_disagrees or judge_score_below"),
        ({"unreviewed": "on", "thumbs_down": "on"}, "unreviewed", "cannot also match thumbs_down"),
        ({"name": "x" * 201}, "name", "Ensure this value has at most 200 characters"),
    ],
)
@pytest.mark.parametrize("action", ["preview", "fill"])
def test_bad_input_is_a_400_with_the_error_beside_its_field_and_the_typing_kept(
    world, manager, as_user, changes, field, words, action
):
    typed = form(name="Kept name", reason="kept reason") | changes | {"action": action}

    response = as_user(manager).post(URL, typed)

    assert response.status_code == 400
    assert words in " ".join(response.context["form"].errors[field])
    page = response.content.decode()
    if changes.get("name", "Kept name") == "Kept name":
        assert 'value="Kept name"' in page
    assert 'value="kept reason"' in page
    assert not ReviewQueue.objects.exists() and not QueueItem.objects.exists()


def test_a_new_queue_needs_a_name_to_be_filled_but_not_to_be_previewed(world, manager, as_user):
    client = as_user(manager)

    preview = client.post(URL, form(thumbs_down="on", action="preview"))
    fill = client.post(URL, form(thumbs_down="on", action="fill", reason=""))

    assert preview.status_code == 200
    assert fill.status_code == 400 and fill.context["form"].errors["name"] == ["a queue needs a name"]
    assert not ReviewQueue.objects.exists()


def test_the_judge_rules_are_offered_only_when_the_app_has_judges(app, manager, as_user):
    without = as_user(manager).get(URL).content.decode()
    seed_world(app, manager, manager)
    with_judges = as_user(manager).get(URL).content.decode()

    assert 'data-testid="judge-rules"' not in without
    assert 'data-testid="judge-rules"' in with_judges and '<option value="f1">f1</option>' in with_judges


def test_a_link_from_the_request_log_starts_from_its_filters(world, manager, as_user):
    log = as_user(manager).get("/apps/support-bot/requests/", {"app_version": "v2", "rating": "negative"})
    link = re.search(r'href="([^"]+)"[^>]*data-testid="fill-by-rules"', log.content.decode()).group(1)

    page = as_user(manager).get(link.replace("&amp;", "&"))

    initial = page.context["form"].initial
    assert initial == {"app_versions": ["v2"], "thumbs_down": True}
    assert re.search(r'name="app_versions" value="v2"[^>]*checked', page.content.decode())


def test_the_queue_pages_link_to_it(world, manager, as_user):
    queue = queue_of([world.by_name["a"]], name="Target")
    client = as_user(manager)

    listing = client.get("/apps/support-bot/queues/").content.decode()
    detail = client.get(f"/apps/support-bot/queues/{queue.pk}/").content.decode()
    preset = client.get(f"{URL}?queue={queue.pk}")

    assert f'href="{URL}"' in listing
    assert f'href="{URL}?queue={queue.pk}"' in detail
    assert preset.context["form"]["queue"].value() == str(queue.pk)


@pytest.mark.parametrize(("persona", "status"), [("outsider", 404), ("viewer", 403), ("querier", 403)])
def test_only_managers_open_it(world, persona, status, request, as_user):
    client = as_user(request.getfixturevalue(persona))

    assert client.get(URL).status_code == status
    assert client.post(URL, form(name="Mine", thumbs_down="on", action="fill")).status_code == status
    assert not ReviewQueue.objects.exists()


def test_a_queue_of_another_app_cannot_be_picked(world, manager, as_user):
    foreign = queue_of([factories.make_request(world.other_app)], name="Theirs")

    response = as_user(manager).post(URL, form(queue=str(foreign.pk), thumbs_down="on", action="fill"))

    assert response.status_code == 400 and "queue" in response.context["form"].errors
    assert foreign.items.count() == 1
