"""Versions and documents are what was logged, to the character: " v1" is not "v1", a NUL is refused
(never a 500), the unversioned version can be asked for alone; odd query strings are 4xx, never 5xx."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from reviewapp.monitoring.quality import MAX_VERSIONS
from tests.monitoring.test_dashboard_page import MARCH_2, RANGE, URL, follow_every_link, links, log_rows, turn

API = "/api/v1/apps/support-bot/quality"
DAY = MARCH_2 + timedelta(hours=9)
NUL_MESSAGE = "Null characters are not allowed."


@pytest.mark.parametrize("versions", ["\x00", "a\x00b"])
def test_a_nul_in_a_version_is_refused_by_the_page_its_charts_csv_and_the_api(
    as_user, manager, app, versions
):
    turn(app, DAY)
    client = as_user(manager)

    page = client.get(URL, {**RANGE, "versions": versions})
    chart = client.get(f"{URL}thumbs_up/", {**RANGE, "versions": versions})
    csv = client.get(f"{URL}thumbs_up.csv", {**RANGE, "versions": versions})
    api = client.get(API, {**RANGE, "versions": versions})

    assert page.status_code == 400
    errors = re.search(r'data-testid="form-errors">(.*?)</div>', page.content.decode(), re.S).group(1)
    assert f"<li>Versions: {NUL_MESSAGE}</li>" in errors
    # The rest renders with every version, as for any refused value.
    assert page.context["quality"].window.versions is None
    assert chart.status_code == 400 and NUL_MESSAGE in chart.content.decode()
    assert (csv.status_code, csv.json()) == (400, {"versions": [NUL_MESSAGE]})
    assert api.status_code == 400 and api.json()["versions"] == [NUL_MESSAGE]


def linked(html: str, parameter: str) -> set[str]:
    """The values of `parameter` in the page's links into the request log."""
    return {
        values[-1]
        for href, _, _ in links(html)
        for name, values in parse_qs(urlsplit(href).query, keep_blank_values=True).items()
        if name == parameter
    }


def test_a_version_with_a_trailing_space_is_a_version_of_its_own_and_its_links_say_so(as_user, manager, app):
    turn(app, DAY, version="v1 ")
    turn(app, DAY, version="v1")
    turn(app, DAY + timedelta(minutes=1), version="v1")
    client = as_user(manager)

    html = client.get(URL, RANGE).content.decode()

    assert linked(html, "app_version") == {"v1 ", "v1"}
    # Each link lists exactly the requests it counts: the " v1" ones hold one request, not three.
    assert follow_every_link(client, html) > 10
    answer = client.get(API, {**RANGE, "versions": "v1 ,v1"}).json()
    assert {v["version"]: v["total"]["requests"] for v in answer["versions"]} == {"v1 ": 1, "v1": 2}
    assert answer["window"]["versions"] == ["v1 ", "v1"]


def test_a_document_with_a_leading_space_is_a_document_of_its_own_and_its_links_say_so(as_user, manager, app):
    turn(app, DAY - timedelta(days=1), docs=("docs://known",))  # the drift baseline's
    turn(app, DAY, docs=(" docs://a",))
    turn(app, DAY, docs=("docs://a",))
    turn(app, DAY + timedelta(minutes=1), docs=("docs://a",))
    client = as_user(manager)

    html = client.get(f"{URL}new_documents/", RANGE).content.decode()

    assert linked(html, "doc_uri") == {" docs://a", "docs://a"}
    assert follow_every_link(client, html) >= 2


def test_the_request_log_matches_a_version_as_given(as_user, manager, app):
    turn(app, DAY, version=" v1")
    turn(app, DAY, version="v1")
    client = as_user(manager)

    assert len(log_rows(client, "/apps/support-bot/requests/?app_version=%20v1")) == 1
    assert len(log_rows(client, "/apps/support-bot/requests/?app_version=v1")) == 1
    assert log_rows(client, "/apps/support-bot/requests/?app_version=%20") == []


# --- the Python client ---


def test_the_client_asks_for_the_unversioned_requests_alone(client_as, manager, transactional_db, app):
    turn(app, DAY, version="")
    turn(app, DAY, version="2.0")
    quality = client_as(manager).quality

    alone = quality(app.slug, since=MARCH_2, until=MARCH_2 + timedelta(days=1), versions=[""], as_frame=False)
    both = quality(
        app.slug, since=MARCH_2, until=MARCH_2 + timedelta(days=1), versions=["", "2.0"], as_frame=False
    )

    assert [(v["version"], v["total"]["requests"]) for v in alone["versions"]] == [("", 1)]
    assert alone["window"]["versions"] == [""]
    assert {v["version"] for v in both["versions"]} == {"", "2.0"}
    with pytest.raises(ValueError, match="at least one version"):
        quality(app.slug, versions=[])
    with pytest.raises(ValueError, match="comma"):
        quality(app.slug, versions=["1,2"])


# --- odd query strings: a 400 naming the parameter, or the page; never a 500 ---

ODD = [
    "versions=%00",
    "compare=yes&a=%00&b=x",
    "compare=yes&a=x&b=y",
    "versions=a%00b",
    "since=2026-03-02T00:00:00",
    "since=2026-03-05&until=2026-03-02",
    "since=%00",
    "until=1970-01-01T00:00:00Z",
    "until=1970-01-01T00:00:01Z&bucket=hour",
    "since=2199-12-31T00:00:00Z",
    "since=2200-01-01T00:00:00Z&until=2200-01-01T00:00:00Z",
    "k=99999999999999999999999",
    "k=%00",
    "bucket=%00",
    "range=%00",
    "compare=%00",
    "baseline_since=2026-01-01",
    "baseline_since=2026-01-02&baseline_until=2026-01-01",
    "baseline_since=0001-01-01T00:00:00Z&baseline_until=2026-01-01T00:00:00Z",
    "since=1970-01-01T00:00:00Z&until=2200-01-01T00:00:00Z&bucket=week",
    "since=2026-03-02T00:00:00%2B23:59",
    "until=2200-01-01T00:00:00Z",
    "since=0001-01-01&until=0001-01-02&bucket=hour",
    "since=9999-12-31&until=9999-12-31T23:59:59.999999Z&bucket=week",
    "since=9999-12-30T00:00:00-23:59&until=9999-12-31T23:00:00Z",
    "versions=,",
    "versions=%20,%20",
    "versions=" + "x" * 101,
    "versions=" + "&versions=".join(str(i) for i in range(MAX_VERSIONS + 1)),
]


@pytest.mark.parametrize("query", ODD)
def test_an_odd_query_string_is_answered_never_a_server_error(as_user, manager, app, query):
    turn(app, DAY, docs=("docs://a",))
    client = as_user(manager)
    client.raise_request_exception = False

    for path in (URL, f"{URL}thumbs_up/", f"{URL}drift.csv", API):
        response = client.get(f"{path}?{query}")
        assert response.status_code in (200, 400), (path, query, response.status_code)
        if response.status_code == 400 and path.endswith((".csv", "quality")):
            assert response["Content-Type"].startswith("application/json"), (path, query)
