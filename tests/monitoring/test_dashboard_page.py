"""The dashboard page: who sees it, what it shows, and that every number leads to exactly the
requests it counts in the request log; the charts' CSV; bad query parameters."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviewapp.chains.base import ChainResult
from reviewapp.feedback.services import record_feedback
from reviewapp.monitoring import charts
from reviewapp.monitoring.forms import served_versions
from reviewapp.monitoring.quality import Window, quality
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import log_turn
from tests import factories

URL = "/apps/support-bot/dashboard/"
LOG_API = "/api/v1/apps/support-bot/request-logs"
MARCH_2 = datetime(2026, 3, 2, tzinfo=UTC)
SINCE, UNTIL = MARCH_2, MARCH_2 + timedelta(days=3)
RANGE = {"since": "2026-03-02T00:00:00Z", "until": "2026-03-05T00:00:00Z", "bucket": "day"}
WINDOW = Window(
    since=SINCE,
    until=UNTIL,
    bucket="day",
    baseline_since=SINCE - timedelta(days=30),
    baseline_until=SINCE,
)


def turn(app, when, *, version="1", status="ok", source="review_app", docs=(), latency=100, tokens=(10, 20)):
    """One turn of `app` at `when`, logged as the chat and the API log them."""
    app.version = version
    messages = [{"role": "user", "content": f"Question at {when.isoformat()}"}]
    if status == "error":
        return log_turn(app=app, user=None, source=source, messages=messages, error="boom", created_at=when)
    result = ChainResult(
        response="An answer",
        chunks=[{"position": i, "doc_uri": uri, "content": f"About {uri}"} for i, uri in enumerate(docs)],
        latency_ms=latency,
        request_tokens=tokens[0],
        response_tokens=tokens[1],
        total_tokens=sum(tokens),
        complete=status != "incomplete",
        app_version=version,
    )
    return log_turn(app=app, user=None, source=source, messages=messages, result=result, created_at=when)


def rate(request, reviewer, **changes):
    record_feedback(request=Request.objects.get(pk=request.pk), reviewer=reviewer, changes=changes)


def passages(*ratings):
    return [{"position": i, "rating": r} for i, r in enumerate(ratings) if r]


def write_log(app, x, y):
    """Versions 1 and 2 and unversioned turns over March 2-4, feedback from x and y, documents retrieved
    in February (the baseline) and new ones; turns just outside the range."""
    day2, day3, day4 = (MARCH_2 + timedelta(days=n, hours=9) for n in range(3))
    old, known, new = "docs://old", "docs://known", "docs://new"
    turn(app, datetime(2026, 2, 10, tzinfo=UTC), version="0.9", docs=(old, known))

    r1 = turn(app, day2, docs=(known, new), latency=100)
    r2 = turn(app, day2 + timedelta(minutes=1), source="rest_api", docs=(known, old), latency=300)
    r3 = turn(app, day3, status="incomplete", docs=(new,), latency=900)
    turn(app, day3 + timedelta(minutes=1), status="error", source="rest_api", latency=None)
    turn(app, day4, docs=(old,))
    r6 = turn(app, day2, version="2", docs=("docs://fresh",), latency=50)
    r7 = turn(app, day4, version="2", source="import", docs=(known,), latency=70)
    r8 = turn(app, day3, version="", docs=(new,), latency=80)
    turn(app, SINCE - timedelta(seconds=1), docs=(known,))
    turn(app, UNTIL, version="2", docs=(new,))
    app.version = "2"
    app.save(update_fields=["version"])

    rate(r1, x, rating="positive", retrieval_assessments=passages("relevant", "not_relevant"))
    rate(r2, x, rating="negative", reasons=["inaccurate"], corrected_response="Better")
    rate(
        r2,
        y,
        rating="negative",
        reasons=["inaccurate", "incomplete"],
        retrieval_assessments=passages("not_relevant"),
    )
    rate(r3, x, rating="positive")
    rate(r3, y, rating="negative", reasons=["incomplete"], missing_sources=[{"doc_uri": "docs://missing"}])
    rate(r6, x, rating="positive", retrieval_assessments=passages("relevant"))
    rate(r7, y, rating="negative", reasons=["irrelevant"])
    rate(r8, y, comment="No rating, a note only")


@pytest.fixture
def log(app, manager):
    x = factories.make_user("x@example.com")
    y = factories.make_user("y@example.com")
    write_log(app, x, y)
    # Another app's requests and feedback in the same range never reach this one's figures.
    other = factories.make_app("other-bot")
    rate(
        turn(other, MARCH_2 + timedelta(hours=1), docs=("docs://elsewhere",)),
        x,
        rating="negative",
        reasons=["inaccurate"],
    )
    return app


def links(html: str) -> list[tuple[str, int, str]]:
    """(href, rows it promises, its text when it is a count) of every link into the request log."""
    found = []
    for tag, inner in re.findall(r"(<a [^>]*data-rows=[^>]*>)(.*?)</a>", html, flags=re.S):
        href = unescape(re.search(r'href="([^"]*)"', tag).group(1))
        rows = int(re.search(r'data-rows="(\d+)"', tag).group(1))
        text = re.sub(r"<[^>]+>", "", inner).strip() if 'class="count"' in tag else ""
        found.append((href, rows, text))
    return found


def log_rows(client, href: str) -> list[str]:
    """The request ids the request log lists for a link's query (through its API, every page)."""
    path, _, query = href.partition("?")
    assert path == "/apps/support-bot/requests/", href
    params = {name: values[-1] for name, values in parse_qs(query, keep_blank_values=True).items()}
    response = client.get(LOG_API, {**params, "page_size": 200})
    assert response.status_code == 200, (href, response.content)
    body = response.json()
    assert body["next_cursor"] is None
    return [row["request_id"] for row in body["results"]]


def follow_every_link(client, html: str) -> int:
    checked = 0
    for href, rows, text in links(html):
        ids = log_rows(client, href)
        assert len(ids) == rows, f"{href} lists {len(ids)} requests, the dashboard says {rows}"
        if text:
            assert int(text.replace(",", "")) == rows, href
        checked += 1
    return checked


# --- who sees it ---


@pytest.mark.parametrize(
    "path", [URL, f"{URL}thumbs_up.csv", f"{URL}thumbs_up/", f"{URL}reasons.csv", f"{URL}drift/"]
)
def test_only_the_apps_managers_see_the_dashboard_its_charts_and_their_data(
    path, as_user, manager, querier, viewer, group_querier, outsider, staff
):
    assert as_user(manager).get(path).status_code == 200
    assert as_user(staff).get(path).status_code == 200
    assert as_user(group_querier).get(path).status_code == 403
    assert as_user(querier).get(path).status_code == 403
    assert as_user(viewer).get(path).status_code == 403
    assert as_user(outsider).get(path).status_code == 404
    response = as_user(None).get(path)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_dashboard_is_a_tab_beside_the_request_log(as_user, manager, log):
    html = as_user(manager).get(URL).content.decode()

    nav = re.search(r'<nav aria-label="App".*?</nav>', html, flags=re.S).group(0)
    assert nav.index('href="/apps/support-bot/requests/"') < nav.index('href="/apps/support-bot/dashboard/"')
    assert 'href="/apps/support-bot/dashboard/" aria-current="page"' in nav


def test_an_unknown_chart_is_not_found(as_user, manager, app):
    assert as_user(manager).get(f"{URL}nothing.csv").status_code == 404
    assert as_user(manager).get(f"{URL}nothing/").status_code == 404


# --- what it shows, and where each number leads ---


def test_every_number_on_the_page_leads_to_exactly_the_requests_it_counts(as_user, manager, log):
    client = as_user(manager)
    response = client.get(URL, RANGE)
    assert response.status_code == 200
    html = response.content.decode()

    checked = follow_every_link(client, html)

    assert "docs://elsewhere" not in html and "other-bot" not in html
    # Three versions with a column each, and the bars of reasons, reviewers, drift and documents.
    assert checked > 80
    figures = re.search(r'data-testid="figure-thumbs_up">(.*?)</tr>', html, flags=re.S).group(1)
    one = re.findall(r'data-rows="(\d+)">(\d+)</a>', figures)
    # Version 2 first: one all-up of two rated; version 1: one of three; unversioned: none rated.
    assert one == [("1", "1"), ("2", "2"), ("1", "1"), ("3", "3"), ("0", "0"), ("0", "0")]


def test_every_number_of_every_charts_table_leads_to_exactly_the_requests_it_counts(as_user, manager, log):
    client = as_user(manager)
    checked = 0
    for name in charts.CHART_NAMES:
        response = client.get(f"{URL}{name}/", {**RANGE, "k": 1})
        assert response.status_code == 200, name
        checked += follow_every_link(client, response.content.decode())
    assert checked > 200


def test_the_unversioned_requests_link_to_themselves_not_to_every_version(as_user, manager, log):
    client = as_user(manager)
    html = client.get(URL, RANGE).content.decode()

    header = re.search(r'<th scope="col" data-version="" data-testid="version-column">(.*?)</th>', html, re.S)
    href = unescape(re.search(r'href="([^"]+)"', header.group(1)).group(1))
    query = parse_qs(urlsplit(href).query, keep_blank_values=True)
    assert query["unversioned"] == ["yes"] and "app_version" not in query
    [only] = log_rows(client, href)
    assert Request.objects.get(pk=only).app_version == ""


def test_the_figures_are_the_quality_of_the_range(as_user, manager, log):
    response = as_user(manager).get(URL, RANGE)
    expected = quality(log, WINDOW)
    shown = response.context["quality"]

    assert shown.window == WINDOW
    assert [v.version for v in shown.versions] == ["2", "1", ""]
    assert [v.total for v in shown.versions] == [v.total for v in expected.versions]
    assert [v.drift for v in shown.versions] == [v.drift for v in expected.versions]


def test_the_csv_of_a_chart_is_the_charts_data(as_user, manager, log):
    client = as_user(manager)
    page = client.get(URL, RANGE).content.decode()
    href = unescape(re.search(r'href="([^"]+)"[^>]*data-testid="csv-thumbs_up"', page).group(1))

    response = client.get(href)

    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="support-bot-thumbs_up-20260302T0000-20260305T0000.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    expected = [
        (v.version, start, f.thumbs_up) for v in quality(log, WINDOW).versions for start, f in v.series
    ]
    assert len(rows) == len(expected) == 9
    for row, (version, start, rate) in zip(rows, expected, strict=True):
        assert (row["version"], row["bucket_start"]) == (version, start.strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert (int(row["thumbs_up_hits"]), int(row["thumbs_up_total"])) == (rate.hits, rate.total)
        assert row["thumbs_up"] == ("" if rate.value is None else str(rate.value))
        assert row["thumbs_up_low"] == ("" if rate.low is None else str(rate.low))
    # Version 1 on March 2: r1 all thumbs up, r2 all thumbs down.
    assert rows[3] == {**rows[3], "version": "1", "thumbs_up_hits": "1", "thumbs_up_total": "2"}


def test_the_csv_links_pin_the_range_so_the_file_holds_what_the_chart_showed(as_user, manager, app):
    factories.make_request(app)
    client = as_user(manager)
    response = client.get(URL)  # the last 30 days, up to now
    window = response.context["quality"].window
    href = unescape(
        re.search(r'href="([^"]+)"[^>]*data-testid="csv-requests"', response.content.decode()).group(1)
    )

    query = parse_qs(urlsplit(href).query)
    assert query["since"] == [window.since.strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert query["until"] == [window.until.strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert query["bucket"] == ["day"] and "range" not in query


def test_text_a_spreadsheet_would_run_is_quoted_in_the_csv(as_user, manager, app):
    when = MARCH_2 + timedelta(hours=2)
    turn(app, MARCH_2 - timedelta(days=1), docs=("docs://known",))  # the drift baseline's
    turn(app, when, version="=1+1", docs=('=HYPERLINK("http://evil.example")',))

    body = as_user(manager).get(f"{URL}new_documents.csv", RANGE).content.decode()

    assert list(csv.reader(io.StringIO(body)))[1] == ["'=1+1", '\'=HYPERLINK("http://evil.example")', "1"]


def test_a_chart_page_shows_the_chart_and_its_table(as_user, manager, log):
    response = as_user(manager).get(f"{URL}latency/", RANGE)
    html = response.content.decode()

    assert response.status_code == 200
    assert 'data-testid="chart-latency"' in html and 'role="img"' in html
    table = re.search(r'<table class="compact" data-testid="chart-table">.*?</table>', html, re.S).group(0)
    # Version 1 on March 2: two timed turns, 100 and 300 ms (nearest rank: p50 is the first).
    assert '<th scope="row">1</th><td>2026-03-02 00:00</td><td>2</td><td>100 ms</td><td>300 ms</td>' in table


def test_a_bar_of_reasons_leads_to_the_requests_given_that_reason(as_user, manager, log):
    client = as_user(manager)
    html = client.get(URL, RANGE).content.decode()
    svg = re.search(r'<svg [^>]*data-chart="reasons".*?</svg>', html, re.S).group(0)

    bars = {re.search(r"reason=([^&]+)", href).group(1): (href, rows) for href, rows, _ in links(svg)}
    assert {reason: rows for reason, (_, rows) in bars.items()} == {
        "inaccurate": 1,
        "incomplete": 2,
        "irrelevant": 1,
    }
    assert len(bars) == 3
    assert len(log_rows(client, bars["incomplete"][0])) == 2


def test_the_htmx_request_gets_the_dashboard_body_only(as_user, manager, log):
    response = as_user(manager).get(URL, {**RANGE, "bucket": "hour"}, headers={"HX-Request": "true"})
    html = response.content.decode()

    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="dashboard-body"') and "<html" not in html
    assert "per hour" in html


def test_the_controls_work_without_javascript_as_a_plain_form_and_links(as_user, manager, log):
    html = as_user(manager).get(URL, RANGE).content.decode()

    form = re.search(r'<form method="get" action="/apps/support-bot/dashboard/"[^>]*>', html).group(0)
    assert 'hx-get="/apps/support-bot/dashboard/"' in form and 'hx-push-url="true"' in form
    preset = re.search(r'<a href="([^"]+)"[^>]*data-testid="range-7d"', html).group(1)
    assert unescape(preset) == f"{URL}?range=7d"
    for name in ("since", "until", "bucket", "versions", "compare", "a", "b", "k", "baseline_since"):
        assert f'name="{name}"' in html, name


def test_a_preset_range_ends_now(as_user, manager, log):
    response = as_user(manager).get(URL, {"range": "7d"})
    window = response.context["quality"].window

    assert window.until - window.since == timedelta(days=7)
    assert abs(datetime.now(UTC) - window.until) < timedelta(minutes=2)
    assert window.bucket == "day" and window.baseline_until == window.since


def test_picked_versions_are_the_only_ones_shown(as_user, manager, log):
    response = as_user(manager).get(f"{URL}?{urlencode({**RANGE, 'versions': ['1', '']}, doseq=True)}")

    assert [v.version for v in response.context["quality"].versions] == ["1", ""]
    html = response.content.decode()
    assert re.findall(r'data-version="([^"]*)" data-testid="version-column"', html) == ["1", ""]
    assert 'name="versions" value="" checked' in html and 'name="versions" value="2" >' in html


def test_two_versions_side_by_side_with_the_comparison_sentence(as_user, manager, log):
    response = as_user(manager).get(URL, {**RANGE, "compare": "yes", "a": "1", "b": "2"})
    html = response.content.decode()

    comparison = response.context["quality"].comparison
    assert (comparison.a, comparison.b) == ("1", "2")
    assert f'data-testid="ab-sentence"><strong>A/B:</strong> {comparison.sentence}</p>' in html.replace(
        "&#x27;", "'"
    )
    assert re.findall(r'data-version="([^"]*)" data-testid="version-column"', html) == ["1", "2"]
    assert "A: <svg" in html and "B: <svg" in html


def test_without_prices_the_page_says_where_to_set_them(as_user, manager, log):
    html = as_user(manager).get(URL, RANGE).content.decode()

    assert 'data-testid="no-prices"' in html and 'href="/apps/support-bot/settings/"' in html
    assert 'data-testid="figure-cost"' not in html and 'data-testid="chart-cost"' not in html


def test_with_prices_the_estimated_cost_is_shown(as_user, manager, log):
    log.price_input_per_1k, log.price_output_per_1k = Decimal("2"), Decimal("4")
    log.save(update_fields=["price_input_per_1k", "price_output_per_1k"])

    html = as_user(manager).get(URL, RANGE).content.decode()

    # Version 2: two answered turns of 10 request and 20 response tokens: 2 × (0.02 + 0.08).
    cost = re.search(r'data-testid="figure-cost">(.*?)</tr>', html, re.S).group(1)
    assert ">0.2000</a>" in cost
    assert 'data-testid="chart-cost"' in html and 'data-testid="no-prices"' not in html


def test_an_app_without_requests_says_so(as_user, manager, app):
    response = as_user(manager).get(URL)

    assert response.status_code == 200
    assert 'data-testid="no-requests"' in response.content.decode()


def test_the_versions_to_pick_from_are_every_version_served_newest_first_in_one_query(app):
    for version in ("1.10", "1.9", "", "2", "1.9", "beta"):
        factories.make_request(app, app_version=version)
    factories.make_request(factories.make_app("other"), app_version="7")

    with CaptureQueriesContext(connection) as queries:
        versions = served_versions(app)

    assert versions == ["2", "1.10", "1.9", "beta", ""]
    assert len(queries) == 1


def test_a_version_with_an_odd_digit_is_shown(app, manager, as_user):
    factories.make_request(app, app_version="1.²")
    factories.make_request(app, app_version="1.10")

    response = as_user(manager).get(URL)

    assert response.status_code == 200
    assert "1.²" in response.content.decode()


# --- bad query parameters ---


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "From (UTC)"),
        ({"since": "2026-03-05T00:00", "until": "2026-03-02T00:00"}, "Until (UTC)"),
        ({"since": "0001-01-01T00:00"}, "From (UTC)"),
        ({"bucket": "minute"}, "Per"),
        ({"range": "1y"}, "Range"),
        ({"since": "2026-01-01T00:00", "until": "2026-06-01T00:00", "bucket": "hour"}, "Per"),
        ({"k": "4"}, "Precision at k"),
        ({"versions": [str(n) for n in range(13)]}, "Versions"),
        ({"versions": ["v" * 101]}, "Versions"),
        ({"compare": "yes", "a": "1", "b": "1"}, "Version B"),
        ({"compare": "yes", "a": "1"}, "Version B"),
        ({"baseline_since": "2026-01-01T00:00"}, "Baseline until (UTC)"),
        (
            {"baseline_since": "2026-02-01T00:00", "baseline_until": "2026-01-01T00:00"},
            "Baseline until (UTC)",
        ),
    ],
)
def test_a_bad_value_is_shown_beside_its_control_and_the_rest_renders_with_defaults(
    as_user, manager, log, params, field
):
    response = as_user(manager).get(f"{URL}?{urlencode(params, doseq=True)}")
    html = response.content.decode()

    assert response.status_code == 400
    errors = re.search(r'data-testid="form-errors">(.*?)</div>', html, re.S).group(1)
    assert f"<li>{field}: " in errors
    assert 'data-testid="figures"' in html or 'data-testid="no-requests"' in html
    assert response.context["quality"].window.bucket in ("hour", "day", "week")


def test_a_bad_value_leaves_the_good_ones_in_force(as_user, manager, log):
    response = as_user(manager).get(URL, {**RANGE, "k": "7"})

    assert response.status_code == 400
    window = response.context["quality"].window
    assert (window.since, window.until, window.k) == (SINCE, UNTIL, 3)


def test_a_bad_value_in_an_htmx_request_swaps_the_body_with_the_error(as_user, manager, log):
    response = as_user(manager).get(URL, {"bucket": "minute"}, headers={"HX-Request": "true"})

    assert response.status_code == 400
    assert response.content.decode().lstrip().startswith('<div id="dashboard-body"')
    assert 'data-testid="form-errors"' in response.content.decode()


def test_a_csv_with_a_bad_value_is_a_400_naming_the_parameter(as_user, manager, log):
    response = as_user(manager).get(f"{URL}requests.csv", {"since": "never", "k": "2"})

    assert response.status_code == 400
    assert set(response.json()) == {"since", "k"}


def test_the_page_reads_the_database_a_bounded_number_of_times(as_user, manager, log):
    client = as_user(manager)
    client.get(URL, RANGE)  # the session's first read of the user is not the page's
    with CaptureQueriesContext(connection) as few:
        client.get(URL, RANGE)
    write_log(log, factories.make_user("z@example.com"), factories.make_user("w@example.com"))
    with CaptureQueriesContext(connection) as summing:
        client.get(URL, {**RANGE, "bucket": "hour"})  # sums the feedback written since first
    with CaptureQueriesContext(connection) as more:
        client.get(URL, {**RANGE, "bucket": "hour"})

    # The same few queries for twice the rows and 24 times the buckets, within the 15.
    assert len(more) == len(few) <= 15
    # Feedback given since the last read is summed first: one batch of a few statements.
    assert len(more) < len(summing) <= len(more) + 12
