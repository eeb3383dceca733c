"""The dashboard's charts (monitoring/charts.py) drawn from hand-made figures: the SVG, the table
behind it, its CSV and the request log query of every count."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from reviewapp.monitoring import charts
from reviewapp.monitoring.quality import Drift, Figures, Quality, Rate, VersionQuality, Window

DAY = timedelta(days=1)
MARCH_2 = datetime(2026, 3, 2, tzinfo=UTC)
# Three day buckets; the window starts mid-day, so the first bucket is cut at its start.
WINDOW = Window(
    since=MARCH_2 + timedelta(hours=12),
    until=MARCH_2 + 3 * DAY,
    bucket="day",
    baseline_since=MARCH_2 - 30 * DAY,
    baseline_until=MARCH_2 + timedelta(hours=12),
    k=3,
)
LOG = "/apps/support-bot/requests/"


def figures(requests=0, up=0, rated=0, *, review_app=None, rest_api=0, errors=0, p95=None, **extra):
    return Figures(
        requests=requests,
        by_source={
            "review_app": requests - rest_api if review_app is None else review_app,
            "rest_api": rest_api,
        },
        errors=Rate(errors, requests, errors / requests if requests else None),
        incomplete=Rate(0, requests, 0.0 if requests else None),
        latency_ms={"p50": p95 and p95 // 2, "p95": p95, "p99": p95, "n": requests if p95 else 0},
        tokens={"request": 10 * requests, "response": 20 * requests, "total": 30 * requests},
        reviewed=Rate(rated, requests, rated / requests if requests else None),
        thumbs_up=Rate(up, rated, up / rated if rated else None, *((up / rated / 2, 1.0) if rated else ())),
        hit_rate=Rate(0, 0),
        **extra,
    )


def version(name, series, *, reasons=(), reviewers=(), drift=None):
    total = figures(
        sum(f.requests for f in series),
        sum(f.thumbs_up.hits for f in series),
        sum(f.thumbs_up.total for f in series),
        rest_api=sum(f.by_source["rest_api"] for f in series),
    )
    starts = [MARCH_2 + i * DAY for i in range(len(series))]
    return VersionQuality(
        name, total, list(zip(starts, series, strict=True)), list(reasons), list(reviewers), drift
    )


@pytest.fixture
def quality():
    two = version(
        "2",
        [figures(4, 3, 4, rest_api=1), figures(0), figures(2, 1, 2, errors=1, p95=900)],
        reasons=[("inaccurate", 2)],
        reviewers=[("x@example.com", 3)],
        drift=Drift(6, 2, [("docs://new", 2)], Rate(2, 6, 1 / 3, 0.1, 0.7)),
    )
    none = version(
        "",
        [figures(1, 0, 1), figures(0), figures(0)],
        reasons=[("inaccurate", 1), ("<script>alert(1)</script>", 1)],
        reviewers=[("y@example.com", 1)],
        drift=Drift(1, 1, [('docs://"quoted" & <b>', 1)], Rate(1, 1, 1.0, 0.2, 1.0)),
    )
    return Quality(window=WINDOW, versions=[two, none])


COLOURS = charts.colours_for(["3", "2", ""])


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_csv_of_a_chart_has_a_row_per_version_and_bucket_with_the_counts(quality):
    chart = charts.chart("thumbs_up", quality, COLOURS)

    rows = rows_of(chart.csv())

    assert [(r["version"], r["bucket_start"]) for r in rows] == [
        ("2", "2026-03-02T00:00:00Z"),
        ("2", "2026-03-03T00:00:00Z"),
        ("2", "2026-03-04T00:00:00Z"),
        ("", "2026-03-02T00:00:00Z"),
        ("", "2026-03-03T00:00:00Z"),
        ("", "2026-03-04T00:00:00Z"),
    ]
    first = rows[0]
    assert (first["thumbs_up_hits"], first["thumbs_up_total"], first["thumbs_up"]) == ("3", "4", "0.75")
    assert (first["thumbs_up_low"], first["thumbs_up_high"]) == ("0.375", "1.0")
    # An empty bucket: its counts are zeros, its rate is not a number.
    assert (rows[1]["thumbs_up_total"], rows[1]["thumbs_up"], rows[1]["thumbs_up_low"]) == ("0", "", "")


def test_the_csv_and_the_table_hold_the_same_rows_as_the_chart(quality):
    for name in charts.CHART_NAMES:
        chart = charts.chart(name, quality, COLOURS, LOG)
        rows = rows_of(chart.csv())
        table = chart.table(LOG)
        assert len(rows) == len(table) == len(chart.rows), name
        assert list(rows[0]) == chart.header(), name
        for row, line in zip(rows, table, strict=True):
            assert line[0].text == (row["version"] or "(no version)"), name


def test_every_chart_is_an_image_with_a_title_and_a_description_that_scales_to_any_width(quality):
    for name in charts.CHART_NAMES:
        svg = str(charts.chart(name, quality, COLOURS).svg)
        assert re.match(r'<svg [^>]*viewBox="0 0 400 \d+" width="100%" role="(img|group)"', svg), name
        assert f'aria-labelledby="chart-{name}-title chart-{name}-desc"' in svg
        assert f'<title id="chart-{name}-title">' in svg and f'<desc id="chart-{name}-desc">' in svg
        # The Content-Security-Policy forbids inline styles and scripts: presentation attributes only.
        assert " style=" not in svg and "<script" not in svg and "<style" not in svg, name


def test_the_description_reads_the_figures_in_words(quality):
    chart = charts.chart("thumbs_up", quality, COLOURS)

    assert chart.summary == (
        "Thumbs-up rate per day, 2026-03-02 12:00 to 2026-03-05 00:00 UTC. Over the range, "
        "version 2: thumbs up 66.7%; version (no version): thumbs up 0.0%."
    )


def test_a_version_keeps_its_colour_on_every_chart(quality):
    for name in ("requests", "thumbs_up", "latency", "reasons"):
        svg = str(charts.chart(name, quality, COLOURS).svg)
        two = re.search(r'<g class="series" data-version="2">(.*?)</g>', svg)
        fills = set(re.findall(r'(?:fill|stroke)="(#[0-9a-f]{6})"', two.group(1) if two else svg))
        if two:
            assert fills == {COLOURS["2"]}, name
        assert COLOURS["2"] in svg, name
        # The unversioned requests were never timed: nothing of theirs on the latency chart.
        assert (COLOURS[""] in svg) == (name != "latency"), name
    assert COLOURS["2"] != COLOURS[""]


def test_each_point_tells_its_value_its_counts_and_its_interval(quality):
    svg = str(charts.chart("thumbs_up", quality, COLOURS).svg)

    assert "<title>2 · 2026-03-02 00:00 · Thumbs up: 75.0% (3 of 4), 95% interval 37.5%–100.0%</title>" in svg
    # A lone point's interval is a bar across it, in the version's colour.
    assert f'<line class="band" x1="{charts._x(0, 3):.1f}"' in svg
    assert f'stroke="{COLOURS["2"]}" stroke-opacity="0.3"' in svg


def test_a_bucket_without_a_value_breaks_the_line(quality):
    svg = str(charts.chart("thumbs_up", quality, COLOURS).svg)
    series = re.search(r'<g class="series" data-version="2">(.*?)</g>', svg).group(1)

    # Day 1 and day 3 have rated requests, day 2 none: two lone points, no line across the gap.
    assert "<polyline" not in series
    assert series.count("<circle") == 2


def test_the_stacked_bars_of_a_bucket_add_up_to_its_requests(quality):
    chart = charts.chart("requests", quality, COLOURS)
    svg = str(chart.svg)
    first_day = re.findall(
        r'<rect x="([\d.]+)" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="#[0-9a-f]+" fill-opacity="([\d.]+)">'
        r"<title>2 · 2026-03-02 00:00 · ([^:]+): (\d+)</title>",
        svg,
    )

    assert [(source, int(n)) for *_, source, n in first_day] == [("Review app", 3), ("REST API", 1)]
    heights = [float(h) for _, _, h, *_ in first_day]
    # 4 requests on a 0..5 axis of 164 units: the two sources' bars stack to 4/5 of it.
    assert sum(heights) == pytest.approx(charts.PLOT_H * 4 / 5, abs=0.2)
    assert {row.at: row.values["requests"] for row in chart.rows if row.version == "2"}[MARCH_2] == 4


def test_the_request_log_query_of_a_bucket_is_cut_to_the_window(quality):
    chart = charts.chart("errors", quality, COLOURS)
    first, _, last = chart.table(LOG)[:3]

    # The first day starts at noon, where the window does; each count names its status.
    errors_link = first[2].link
    assert parse_qs(urlsplit(errors_link.href).query) == {
        "since": ["2026-03-02T12:00:00Z"],
        "until": ["2026-03-03T00:00:00Z"],
        "app_version": ["2"],
        "status": ["error"],
    }
    assert parse_qs(urlsplit(last[2].link.href).query)["until"] == ["2026-03-05T00:00:00Z"]
    assert (last[2].text, last[2].link.rows) == ("1", 1)


def test_the_unversioned_requests_are_asked_for_with_unversioned_yes(quality):
    table = charts.chart("requests", quality, COLOURS).table(LOG)
    none_row = next(line for line in table if line[0].text == "(no version)")

    query = parse_qs(urlsplit(none_row[2].link.href).query, keep_blank_values=True)
    # An empty app_version would mean "any version" to the request log.
    assert query["unversioned"] == ["yes"] and "app_version" not in query


def test_passages_link_to_the_requests_holding_them_and_say_how_many_those_are():
    f = figures(3, 1, 2, chunk_precision=Rate(3, 5, 0.6))
    f.hit_rate = Rate(1, 2, 0.5)
    q = Quality(window=WINDOW, versions=[version("1", [f, figures(0), figures(0)])])
    line = charts.chart("chunk_precision", q, COLOURS).table(LOG)[0]

    relevant, rated = line[2], line[3]
    assert (relevant.text, relevant.link.rows, relevant.link.exact) == ("3", 1, False)
    assert (rated.text, rated.link.rows, rated.link.exact) == ("5", 2, False)
    assert "retrieval=hit" in relevant.link.href and "retrieval=rated" in rated.link.href


def test_reasons_are_ranked_bars_whose_text_is_escaped_and_which_link_to_their_requests(quality):
    chart = charts.chart("reasons", quality, COLOURS, LOG)
    svg = str(chart.svg)

    assert [(r.at, r.version, r.values["requests"]) for r in chart.rows] == [
        ("inaccurate", "2", 2),
        ("inaccurate", "", 1),
        ("<script>alert(1)</script>", "", 1),
    ]
    assert "<script>" not in svg and "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    links = re.findall(r'<a href="([^"]+)" data-rows="(\d+)">', svg)
    assert len(links) == 3
    assert parse_qs(urlsplit(links[0][0].replace("&amp;", "&")).query)["reason"] == ["inaccurate"]


def test_drift_is_a_bar_per_version_and_its_new_documents_are_listed(quality):
    drift = rows_of(charts.chart("drift", quality, COLOURS).csv())
    documents = rows_of(charts.chart("new_documents", quality, COLOURS).csv())

    assert [(r["version"], r["retrieving"], r["novel"], r["drift_low"]) for r in drift] == [
        ("2", "6", "2", "0.1"),
        ("", "1", "1", "0.2"),
    ]
    assert [(r["version"], r["doc_uri"], r["requests"]) for r in documents] == [
        ("2", "docs://new", "2"),
        ("", 'docs://"quoted" & <b>', "1"),
    ]
    svg = str(charts.chart("new_documents", quality, COLOURS).svg)
    assert "&quot;quoted&quot; &amp; &lt;b&gt;" in svg


def test_the_novel_requests_link_names_the_baseline(quality):
    line = charts.chart("drift", quality, COLOURS).table(LOG)[0]
    query = parse_qs(urlsplit(line[2].link.href).query)

    assert query["novel_since"] == ["2026-01-31T00:00:00Z"] and query["novel_until"] == [
        "2026-03-02T12:00:00Z"
    ]
    assert query["since"] == ["2026-03-02T12:00:00Z"] and (line[2].text, line[2].link.rows) == ("2", 2)


def test_a_long_range_draws_lines_without_a_marker_per_point():
    n = charts.MAX_MARKED_BUCKETS + 1
    series = [figures(2, 1, 2) for _ in range(n)]
    window = Window(since=MARCH_2, until=MARCH_2 + timedelta(hours=n), bucket="hour")
    vq = VersionQuality(
        "1", series[0], [(MARCH_2 + timedelta(hours=i), f) for i, f in enumerate(series)], [], []
    )
    svg = str(charts.chart("thumbs_up", Quality(window=window, versions=[vq]), COLOURS).svg)

    assert "<circle" not in svg and svg.count("<polyline") == 1
    # The interval is a band along the line.
    assert svg.count('<polygon class="band"') == 1


def test_the_figures_side_by_side_link_each_count_to_its_requests(quality):
    sections = charts.figure_sections(quality, quality.versions, LOG, prices=False)
    rows = {row.key: row for section in sections for row in section.rows}

    two, none = rows["thumbs_up"].cells
    assert two.value == "66.7%" and two.note == "95% interval 33.3%–100.0%"
    assert (two.hits.text, two.total.text) == ("4", "6")
    assert "verdict=positive" in two.hits.href and "verdict=rated" in two.total.href
    assert "unversioned=yes" in none.total.href
    assert rows["requests"].cells[0].link.rows == 6
    # Token sums link to the requests summed.
    tokens = rows["tokens_total"].cells[0]
    assert (tokens.value, tokens.link.rows, tokens.link.exact) == ("180", 6, False)
    assert "cost" not in rows
    assert rows["drift"].cells[0].hits.href.count("novel_since=") == 1


def test_the_cost_row_appears_when_the_app_has_prices(quality):
    quality.versions[0].total.cost = Decimal("0.012500")
    rows = {
        r.key: r for s in charts.figure_sections(quality, quality.versions, LOG, prices=True) for r in s.rows
    }

    assert rows["cost"].cells[0].value == "0.0125"


@pytest.mark.parametrize(
    ("value", "top"), [(0, 1), (1, 1), (3, 5), (7, 10), (11, 20), (180, 200), (2100, 2500), (0.3, 0.5)]
)
def test_an_axis_ends_at_a_round_number_above_the_largest_value(value, top):
    assert charts.nice_max(value) == top


def test_bars_too_thin_to_see_become_a_line_of_the_requests_per_version():
    n = 400
    series = [figures(3, rest_api=1) for _ in range(n)]
    window = Window(since=MARCH_2, until=MARCH_2 + timedelta(hours=n), bucket="hour")
    vq = VersionQuality(
        "1", series[0], [(MARCH_2 + timedelta(hours=i), f) for i, f in enumerate(series)], [], []
    )
    chart = charts.chart("requests", Quality(window=window, versions=[vq]), COLOURS)

    assert "<rect" not in str(chart.svg) and str(chart.svg).count("<polyline") == 1
    # The data stays the same: the sources of every bucket.
    assert rows_of(chart.csv())[0] == {
        "version": "1",
        "bucket_start": "2026-03-02T00:00:00Z",
        "requests": "3",
        "review_app": "2",
        "rest_api": "1",
        "import": "0",
    }
