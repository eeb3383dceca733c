"""Bad input to pairwise queues: a 400 saying what is wrong (a form error keeping what was typed),
never a 500; 404 to outsiders, 403 below the level."""

import pytest

from reviewapp.comparisons.models import Comparison, Preference
from reviewapp.queues import claims
from reviewapp.queues.models import ReviewQueue
from reviewapp.requestlog.models import Request
from tests.comparisons.helpers import VERSION_A, VERSION_B, a_request, imported_queue, two_version_app
from tests.conftest import client_for
from tests.queues.helpers import queue_of

CREATE = "/api/v1/apps/support-bot/review-queues"


@pytest.fixture
def versions(app, server_a, server_b):
    return two_version_app(app, server_a, server_b)


def post(user, body):
    return client_for(user).post(CREATE, body, content_type="application/json")


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {},
            {
                "version_a": [f"pick a version of the app ({VERSION_B}, {VERSION_A})"],
                "version_b": [f"pick a version of the app ({VERSION_B}, {VERSION_A})"],
                "request_ids": ["give the requests of version A to compare"],
            },
        ),
        (
            {"version_a": VERSION_A, "version_b": VERSION_A, "request_ids": ["x"]},
            {"version_b": ["pick a version other than version A"], "request_ids": ["not a request id: x"]},
        ),
        (
            {"version_a": VERSION_A, "version_b": "gamma", "request_ids": []},
            {
                "version_b": [f"no version 'gamma' to replay on; one of {VERSION_B}, {VERSION_A}"],
                "request_ids": ["give the requests of version A to compare"],
            },
        ),
        (
            {"pairs": [{"prompt": "Q", "response_a": "a", "response_b": "b"}], "version_a": VERSION_A},
            {"pairs": ["give either pairs, or version_a, version_b and request_ids"]},
        ),
        (
            {
                "pairs": [
                    "text",
                    {"prompt": "Q", "response_a": "a"},
                    {"prompt": "Q", "messages": [], "response_a": "a", "response_b": "b"},
                    {"messages": [{"role": "robot", "content": "hi"}], "response_a": "a", "response_b": "b"},
                    {"prompt": "Q", "response_a": 1, "response_b": "b", "version_a": "x", "version_b": "x"},
                    {"prompt": "Q", "response_a": "a", "response_b": "b", "version_a": "x", "version_b": "x"},
                    {"prompt": "Q", "response_a": "a", "response_b": "b", "colour": "red"},
                ]
            },
            {
                "pairs": [
                    "pair 1: must be an object",
                    "pair 2: response_b must be a string",
                    "pair 3: give either messages or prompt",
                    "pair 4: messages[0].role must be one of system, user, assistant, tool, developer",
                    "pair 5: response_a must be a string",
                    "pair 6: version_a and version_b must differ",
                    "pair 7: unknown field 'colour'",
                ]
            },
        ),
        ({"pairs": []}, {"pairs": ["give at least one pair"]}),
        ({"pairs": [{}] * 10_001}, {"pairs": ["at most 10000 pairs at once (10,001 given)"]}),
        ({"pairs": "not a list"}, {"pairs": ['Expected a list of items but got type "str".']}),
    ],
)
def test_bad_bodies_are_400s_naming_each_field(versions, manager, body, errors):
    response = post(manager, {"mode": "pairwise", "name": "Pairs", **body})
    assert response.status_code == 400
    assert response.json() == errors
    assert not ReviewQueue.objects.exists() and not Comparison.objects.exists()


def test_requests_of_another_version_another_app_or_without_an_answer_are_named(versions, manager):
    of_b = a_request(versions, "On B", version=VERSION_B)
    failed = a_request(versions, "Failed", status=Request.Status.ERROR, response="")
    elsewhere = a_request(__import__("tests.factories").factories.make_app("other"), "Elsewhere")
    body = {"version_a": VERSION_A, "version_b": VERSION_B}
    response = post(
        manager, {"mode": "pairwise", "name": "P", **body, "request_ids": [str(of_b.pk), str(failed.pk)]}
    )
    assert response.status_code == 400
    assert response.json() == {
        "request_ids": [
            f"not answered by version {VERSION_A!r}: {of_b.pk}",
            f"has no complete answer to compare: {failed.pk}",
        ]
    }
    response = post(manager, {"mode": "pairwise", "name": "P", **body, "request_ids": [str(elsewhere.pk)]})
    assert response.json() == {"request_ids": [f"no such request in app 'support-bot': {elsewhere.pk}"]}


def test_a_taken_name_is_a_409(versions, manager):
    imported_queue(versions, [("Q", "a", "b")], name="Taken")
    response = post(
        manager,
        {
            "mode": "pairwise",
            "name": "Taken",
            "pairs": [{"prompt": "Q", "response_a": "a", "response_b": "b"}],
        },
    )
    assert response.status_code == 409
    assert response.json() == {"name": ["this app already has a queue named 'Taken'"]}


@pytest.mark.parametrize(
    ("text", "words"),
    [("Q\\u0000?", "a NUL character (U+0000)"), ("Q \\ud800 half", "an unpaired surrogate (U+D800)")],
)
def test_nul_and_lone_surrogates_in_imported_text_are_refused_by_path(app, manager, text, words):
    raw = '{"mode": "pairwise", "name": "Odd", "pairs": [{"response_a": "a", "response_b": "b", "prompt": "%s"}]}'
    response = client_for(manager).post(CREATE, raw % text, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": f"JSON parse error - pairs[0].prompt contains {words}"}
    assert not ReviewQueue.objects.exists()


@pytest.mark.parametrize(
    ("who", "status"), [("outsider", 404), ("viewer", 403), ("querier", 403), ("manager", 200)]
)
def test_the_owner_routes_answer_outsiders_404_and_members_below_manage_403(
    app, request, who, status, manager, querier, viewer, outsider
):
    queue, _ = imported_queue(app, [("Q", "a", "b")])
    user = request.getfixturevalue(who)
    client = client_for(user)
    base = f"/api/v1/apps/{app.slug}/review-queues/{queue.pk}"
    assert client.get(f"{base}/comparison").status_code == status
    assert client.get(f"{base}/preferences").status_code == status
    assert client.get(f"/apps/{app.slug}/queues/{queue.pk}/preferences.jsonl").status_code == status
    assert client.get(f"/apps/{app.slug}/queues/pairwise/new/").status_code == status
    created = client.post(
        CREATE,
        {"mode": "pairwise", "name": "N", "pairs": [{"prompt": "Q", "response_a": "a", "response_b": "b"}]},
        content_type="application/json",
    )
    assert created.status_code == (201 if status == 200 else status)
    assert client.post(f"{base}/preferences/mlflow").status_code == (202 if status == 200 else status)


def test_comparison_routes_of_a_queue_that_is_not_pairwise_are_404(app, manager):
    queue = queue_of([a_request(app, "Q")])
    client = client_for(manager)
    response = client.get(f"/api/v1/apps/{app.slug}/review-queues/{queue.pk}/comparison")
    assert response.status_code == 404 and "detail" in response.json()
    assert client.get(f"/apps/{app.slug}/queues/{queue.pk}/preferences.jsonl").status_code == 404


def pick_url(queue, item):
    return f"/queues/{queue.pk}/review/{item.pk}/pick/"


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"comment": "kept"}, "choice", "Pick Response A, Response B or a tie (a, b or t)."),
        (
            {"choice": "x", "comment": "kept"},
            "choice",
            "Select a valid choice. x is not one of the available choices.",
        ),
        (
            {"choice": "a", "reasons": "bogus", "comment": "kept"},
            "reasons",
            "Select a valid choice. bogus is not one of the available choices.",
        ),
        (
            {"choice": "a", "reasons": "other", "comment": "kept"},
            "other_reason",
            "say what the other reason is",
        ),
        ({"choice": "a", "comment": "kept" + "x" * 20_000}, "comment", "at most 20000 characters"),
        ({"choice": "a", "comment": "kept\x00"}, "comment", "Null characters are not allowed."),
    ],
)
def test_a_bad_pick_is_a_400_with_the_error_and_what_was_typed_kept(app, querier, data, field, words):
    queue, _ = imported_queue(app, [("Q", "a", "b")])
    item = queue.items.get()
    claims.claim_item(item=item, reviewer=querier)
    client = client_for(querier)
    client.get(f"/queues/{queue.pk}/review/{item.pk}/")
    response = client.post(pick_url(queue, item), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'data-testid="error-{field}">{words}' in html
    assert "kept" in html.split('data-testid="pair-comment">')[1]
    assert not Preference.objects.exists()


def test_picks_answer_outsiders_404_and_those_not_named_403(app, querier, outsider, group_querier):
    queue, _ = imported_queue(app, [("Q", "a", "b")], assignment="named", reviewers=[querier])
    item = queue.items.get()
    assert client_for(outsider).post(pick_url(queue, item), {"choice": "a"}).status_code == 404
    assert client_for(group_querier).post(pick_url(queue, item), {"choice": "a"}).status_code == 403
    plain = queue_of([a_request(app, "Plain")], name="Plain")
    plain_item = plain.items.get()
    assert client_for(querier).post(pick_url(plain, plain_item), {"choice": "a"}).status_code == 404
    assert not Preference.objects.exists()
