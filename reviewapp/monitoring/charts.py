"""What the dashboard shows of a Quality: charts drawn as SVG on the server, the table behind each
chart (its CSV), the figures side by side, and for every count the request log query that selects
exactly the requests it counts.

A chart's SVG, its table and its CSV are made from the same rows, so they always agree.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .forms import iso
from .quality import STEP, Figures, Quality, Rate, VersionQuality, version_label

# Okabe-Ito and Tol's colour-blind safe colours; a version keeps its colour on every chart.
PALETTE = (
    "#0072b2",
    "#d55e00",
    "#009e73",
    "#cc79a7",
    "#e69f00",
    "#56b4e9",
    "#332288",
    "#882255",
    "#117733",
    "#999933",
    "#44aa99",
    "#aa4499",
)
SOURCES = ("review_app", "rest_api", "import")
SOURCE_LABELS = {"review_app": "Review app", "rest_api": "REST API", "import": "Import"}
# Sources share their version's colour, lighter and lighter.
SOURCE_OPACITY = (1.0, 0.6, 0.3, 0.45, 0.75)
# Markers with a tooltip on each point up to this many buckets; beyond, the lines alone.
MAX_MARKED_BUCKETS = 100
# Stacked bars thinner than this (in the drawing's units) are drawn as lines.
MIN_BAR = 1.0
# Bar charts of categories (reasons, reviewers, documents) show the top ones.
MAX_CATEGORIES = 12
CATEGORY_CHARS = 26

DEFINITIONS = {
    "requests": "Requests logged in the range, by where they came from (review app, REST API, import).",
    "errors": "Requests whose status is error, and requests whose answer stopped part-way (incomplete), "
    "of all requests.",
    "latency": "The chain's own time per request (nearest rank): half the timed requests took at most p50, "
    "95% at most p95, 99% at most p99.",
    "tokens": "Sums of the request, response and total tokens the chain reported.",
    "cost": "Request tokens / 1,000 × the input price plus response tokens / 1,000 × the output price, "
    "at the app's prices.",
    "reviewed": "Requests with feedback, of all requests.",
    "thumbs_up": "Requests whose every effective rating is a thumbs up, of the requests with any rating. "
    "The band is the 95% Wilson interval.",
    "judges": "Each judge version's passes, of the requests it gave a verdict on (errors left out), by the "
    "requests' time, beside the thumbs-up rate of the requests people rated.",
    "reasons": "Reasons given in the thumbs down in force, by how many requests got each.",
    "corrections": "Reviewed requests where a reviewer wrote a corrected response, of the reviewed requests.",
    "reviewers": "Requests each reviewer gave feedback on.",
    "chunk_precision": "Relevant passages, of the rated passages. A passage is relevant when more of its "
    "ratings say relevant than not.",
    "hit_rate": "Requests with a relevant passage, of the requests with a rated passage.",
    "mrr": "Mean reciprocal rank: the mean of 1 / (rank of the first relevant passage), 0 when none is "
    "relevant, over the requests with a rated passage.",
    "precision_at_k": "Relevant passages among the first k, of the rated passages among the first k.",
    "missing_sources": "Reviewed requests where a reviewer added a source that was not retrieved, of the "
    "reviewed requests.",
    "drift": "Of the requests that retrieved any document, the share that retrieved at least one doc_uri "
    "never retrieved in the baseline period.",
    "new_documents": "Documents (doc_uri) never retrieved in the baseline period, by how many requests in the "
    "range retrieved them.",
}


def colours_for(versions) -> dict[str, str]:
    """A colour per version, by its place in `versions` (the app's versions, newest first)."""
    return {version: PALETTE[i % len(PALETTE)] for i, version in enumerate(versions)}


# ---------------------------------------------------------------------------------------------
# Which requests a number counts


@dataclass(frozen=True)
class Scope:
    """The requests of one version over one time range: what a row of a table is about."""

    version: str
    since: datetime
    until: datetime

    def log_query(self, **filters) -> str:
        """The request log's query string selecting this scope's requests, narrowed by `filters`."""
        params = {"since": iso(self.since), "until": iso(self.until)}
        # An empty app_version means "any version" to the log: the unversioned ones are asked for.
        if self.version:
            params["app_version"] = self.version
        else:
            params["unversioned"] = "yes"
        params.update(filters)
        return urlencode(params)


@dataclass(frozen=True)
class Link:
    """A number and the request log page listing exactly the `rows` requests behind it.

    `exact`: the number is that count of requests (not passages or a sum read from them).
    """

    text: str
    href: str
    rows: int
    exact: bool = True


# ---------------------------------------------------------------------------------------------
# Reading a figure


@dataclass(frozen=True)
class Measure:
    """One column of a chart's table.

    `counts`: the request log filters that select exactly the requests this number counts (None:
    it counts no requests, e.g. a percentile). `rows`: when the number is not itself a count of
    requests (passages, token sums), how many requests its link selects.
    """

    key: str
    label: str
    read: Callable[[Figures], object] | None = None  # None: the row gives the value (categories)
    kind: str = "count"  # count | rate | bound | ms | number | money | text
    counts: dict | None = None
    rows: Callable[[Figures], int] | None = None

    def link(self, row: Row, log_url: str) -> Link | None:
        value = row.values[self.key]
        if self.counts is None or value is None:
            return None
        query = row.scope.log_query(**row.category_filter, **self.counts)
        if self.rows and row.figures is not None:
            return Link(
                format_value(value, self.kind), f"{log_url}?{query}", self.rows(row.figures), exact=False
            )
        return Link(format_value(value, self.kind), f"{log_url}?{query}", value)


def _rate(get: Callable[[Figures], Rate | None], part: str):
    def read(figures: Figures):
        rate = get(figures)
        return None if rate is None else getattr(rate, part)

    return read


def rate_measures(
    key: str,
    label: str,
    get: Callable[[Figures], Rate | None],
    *,
    hits: tuple[str, dict | None],
    total: tuple[str, dict | None],
    hits_rows=None,
    total_rows=None,
) -> list[Measure]:
    """A rate's columns: its counts (each with the requests they count), the value and its interval."""
    return [
        Measure(f"{key}_hits", hits[0], _rate(get, "hits"), counts=hits[1], rows=hits_rows),
        Measure(f"{key}_total", total[0], _rate(get, "total"), counts=total[1], rows=total_rows),
        Measure(key, label, _rate(get, "value"), kind="rate"),
        Measure(f"{key}_low", "95% low", _rate(get, "low"), kind="bound"),
        Measure(f"{key}_high", "95% high", _rate(get, "high"), kind="bound"),
    ]


def format_value(value, kind: str) -> str:
    if value is None:
        return "—"
    if kind in ("rate", "bound"):
        return f"{100 * value:.1f}%"
    if kind == "ms":
        return f"{value:,} ms"
    if kind == "number":
        return f"{value:.3f}"
    if kind == "money":
        return f"{Decimal(value):,.4f}"
    if kind == "count":
        return f"{value:,}" if isinstance(value, int) else str(value)
    return str(value)


def csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


# ---------------------------------------------------------------------------------------------
# Charts


@dataclass(frozen=True)
class Line:
    """A measure drawn per version: its line (or bar) style, and optionally a band between two measures."""

    key: str
    label: str
    dash: str = ""
    band: tuple[str, str] | None = None


@dataclass
class Row:
    version: str
    at: object  # the bucket's start (a datetime) or the category (text)
    scope: Scope
    figures: Figures | None
    values: dict
    category_filter: dict = field(default_factory=dict)


@dataclass
class Cell:
    text: str
    link: Link | None = None


@dataclass
class Chart:
    name: str
    title: str
    definition: str
    at_label: str | None  # the heading of the bucket/category column; None: one row per version
    measures: list[Measure]
    rows: list[Row]
    svg: SafeString
    legend: list[tuple[str, SafeString]]
    summary: str

    def header(self) -> list[str]:
        at = [self.at_label.lower().replace(" ", "_")] if self.at_label else []
        return ["version", *at, *(m.key for m in self.measures)]

    def csv(self, text: Callable[[str], str] = str) -> str:
        """The rows as CSV; `text` is applied to the texts (versions, categories) people or chains wrote."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.header())
        for row in self.rows:
            at = (
                [csv_value(row.at) if isinstance(row.at, datetime) else text(str(row.at))]
                if self.at_label
                else []
            )
            writer.writerow([text(row.version), *at, *(csv_value(row.values[m.key]) for m in self.measures)])
        return out.getvalue()

    def table(self, log_url: str) -> list[list[Cell]]:
        """The rows as the page shows them, every count a link to the requests it counts."""
        return [
            [
                Cell(version_label(row.version)),
                *([Cell(_at_text(row.at))] if self.at_label else []),
                *(Cell(format_value(row.values[m.key], m.kind), m.link(row, log_url)) for m in self.measures),
            ]
            for row in self.rows
        ]


def _at_text(at) -> str:
    if isinstance(at, datetime):
        return at.strftime("%Y-%m-%d %H:%M")
    return str(at)


@dataclass(frozen=True)
class TimeChart:
    """A chart over time: per version, one line (or stacked bar) per `Line`."""

    name: str
    title: str
    y_label: str
    y_kind: str  # rate | count | ms | number | money
    measures: Callable[[Quality], list[Measure]]
    lines: Callable[[Quality], list[Line]]
    style: str = "line"  # line | stacked


def _sources(quality: Quality) -> list[str]:
    seen = {source for vq in quality.versions for _, f in vq.series for source in f.by_source}
    seen |= {source for vq in quality.versions for source in vq.total.by_source}
    return [*SOURCES, *sorted(seen - set(SOURCES))]


def _requests_measures(quality: Quality) -> list[Measure]:
    return [
        Measure("requests", "Requests", lambda f: f.requests, counts={}),
        *(
            Measure(
                source,
                SOURCE_LABELS.get(source, source),
                lambda f, s=source: f.by_source.get(s, 0),
                counts={"source": source},
            )
            for source in _sources(quality)
        ),
    ]


def _requests(f: Figures) -> int:
    return f.requests


def _tokens(kind: str):
    return lambda f: f.tokens.get(kind, 0)


def _latency(p: str):
    return lambda f: f.latency_ms.get(p)


def _k(quality: Quality) -> int:
    return quality.window.k


def _constant(value):
    return lambda f: value


def judge_labels(quality: Quality) -> list[str]:
    """The judge versions with results in the window ("name vN"), by name then version."""
    seen = {label for vq in quality.versions for label in vq.total.judges}
    return sorted(seen, key=lambda label: (label.rsplit(" v", 1)[0], int(label.rsplit(" v", 1)[1])))


def _judge_measures(quality: Quality) -> list[Measure]:
    measures = rate_measures(
        "thumbs_up",
        "Thumbs-up rate",
        lambda f: f.thumbs_up,
        hits=("All thumbs up", {"verdict": "positive"}),
        total=("Rated", {"verdict": "rated"}),
    )
    for n, label in enumerate(judge_labels(quality)):
        measures += rate_measures(
            f"judge_{n}",
            f"{label} pass rate",
            lambda f, label=label: f.judges.get(label),
            hits=(f"{label} passes", None),
            total=(f"{label} verdicts", None),
        )
    return measures


def _judge_lines(quality: Quality) -> list[Line]:
    dashes = ("5 3", "1 3", "8 3 1 3", "2 2")
    return [Line("thumbs_up", "Thumbs up")] + [
        Line(f"judge_{n}", label, dash=dashes[n % len(dashes)])
        for n, label in enumerate(judge_labels(quality))
    ]


def _hit_requests(f: Figures) -> int:
    return f.hit_rate.hits if f.hit_rate else 0


def _rated_requests(f: Figures) -> int:
    return f.hit_rate.total if f.hit_rate else 0


TIME_CHARTS = [
    TimeChart(
        "requests",
        "Requests by source",
        "Requests",
        "count",
        _requests_measures,
        lambda q: [Line(s, SOURCE_LABELS.get(s, s)) for s in _sources(q)],
        style="stacked",
    ),
    TimeChart(
        "errors",
        "Error and incomplete rate",
        "% of requests",
        "rate",
        lambda q: [
            *rate_measures(
                "error_rate",
                "Error rate",
                lambda f: f.errors,
                hits=("Errors", {"status": "error"}),
                total=("Requests", {}),
            ),
            *rate_measures(
                "incomplete_rate",
                "Incomplete rate",
                lambda f: f.incomplete,
                hits=("Incomplete", {"status": "incomplete"}),
                total=("Requests", {}),
            ),
        ],
        lambda q: [Line("error_rate", "Errors"), Line("incomplete_rate", "Incomplete", dash="5 3")],
    ),
    TimeChart(
        "latency",
        "Chain latency",
        "Milliseconds",
        "ms",
        lambda q: [
            Measure("timed", "Timed requests", lambda f: f.latency_ms.get("n") or 0),
            Measure("p50_ms", "p50", _latency("p50"), kind="ms"),
            Measure("p95_ms", "p95", _latency("p95"), kind="ms"),
            Measure("p99_ms", "p99", _latency("p99"), kind="ms"),
        ],
        lambda q: [
            Line("p50_ms", "p50"),
            Line("p95_ms", "p95", dash="5 3"),
            Line("p99_ms", "p99", dash="1 3"),
        ],
    ),
    TimeChart(
        "tokens",
        "Tokens",
        "Tokens",
        "count",
        lambda q: [
            Measure("requests", "Requests", _requests, counts={}),
            *(
                Measure(
                    f"{kind}_tokens", f"{kind.capitalize()} tokens", _tokens(kind), counts={}, rows=_requests
                )
                for kind in ("request", "response", "total")
            ),
        ],
        lambda q: [
            Line("total_tokens", "Total"),
            Line("request_tokens", "Request", dash="5 3"),
            Line("response_tokens", "Response", dash="1 3"),
        ],
    ),
    TimeChart(
        "cost",
        "Estimated cost",
        "Cost",
        "money",
        lambda q: [
            Measure("requests", "Requests", _requests, counts={}),
            Measure("request_tokens", "Request tokens", _tokens("request"), counts={}, rows=_requests),
            Measure("response_tokens", "Response tokens", _tokens("response"), counts={}, rows=_requests),
            Measure("cost", "Cost", lambda f: f.cost, kind="money", counts={}, rows=_requests),
        ],
        lambda q: [Line("cost", "Cost")],
    ),
    TimeChart(
        "reviewed",
        "Reviewed share",
        "% of requests",
        "rate",
        lambda q: rate_measures(
            "reviewed",
            "Reviewed share",
            lambda f: f.reviewed,
            hits=("Reviewed", {"feedback": "yes"}),
            total=("Requests", {}),
        ),
        lambda q: [Line("reviewed", "Reviewed")],
    ),
    TimeChart(
        "thumbs_up",
        "Thumbs-up rate",
        "% of rated requests",
        "rate",
        lambda q: rate_measures(
            "thumbs_up",
            "Thumbs-up rate",
            lambda f: f.thumbs_up,
            hits=("All thumbs up", {"verdict": "positive"}),
            total=("Rated", {"verdict": "rated"}),
        ),
        lambda q: [Line("thumbs_up", "Thumbs up", band=("thumbs_up_low", "thumbs_up_high"))],
    ),
    TimeChart(
        "judges",
        "Judge pass rate beside the thumbs-up rate",
        "% of judged (rated) requests",
        "rate",
        _judge_measures,
        _judge_lines,
    ),
    TimeChart(
        "corrections",
        "Correction rate",
        "% of reviewed requests",
        "rate",
        lambda q: rate_measures(
            "corrections",
            "Correction rate",
            lambda f: f.corrections,
            hits=("Corrected", {"corrected": "yes"}),
            total=("Reviewed", {"feedback": "yes"}),
        ),
        lambda q: [Line("corrections", "Corrected")],
    ),
    TimeChart(
        "chunk_precision",
        "Chunk precision",
        "% of rated passages",
        "rate",
        lambda q: rate_measures(
            "chunk_precision",
            "Chunk precision",
            lambda f: f.chunk_precision,
            # Passages, not requests: the links list the requests holding them.
            hits=("Relevant passages", {"retrieval": "hit"}),
            total=("Rated passages", {"retrieval": "rated"}),
            hits_rows=_hit_requests,
            total_rows=_rated_requests,
        ),
        lambda q: [Line("chunk_precision", "Precision")],
    ),
    TimeChart(
        "hit_rate",
        "Hit rate",
        "% with a rated passage",
        "rate",
        lambda q: rate_measures(
            "hit_rate",
            "Hit rate",
            lambda f: f.hit_rate,
            hits=("With a relevant passage", {"retrieval": "hit"}),
            total=("With a rated passage", {"retrieval": "rated"}),
        ),
        lambda q: [Line("hit_rate", "Hit rate")],
    ),
    TimeChart(
        "mrr",
        "Mean reciprocal rank",
        "MRR",
        "number",
        lambda q: [
            Measure("mrr_requests", "With a rated passage", lambda f: f.mrr_n, counts={"retrieval": "rated"}),
            Measure("mrr", "MRR", lambda f: f.mrr, kind="number"),
        ],
        lambda q: [Line("mrr", "MRR")],
    ),
    TimeChart(
        "precision_at_k",
        "Precision at {k}",
        "% of the first {k} rated",
        "rate",
        lambda q: [
            Measure("k", "k", _constant(_k(q)), kind="text"),
            *rate_measures(
                "precision_at_k",
                f"Precision@{_k(q)}",
                lambda f: f.precision_at_k,
                # Passages among the first k: no request log filter selects exactly their requests.
                hits=(f"Relevant among the first {_k(q)}", None),
                total=(f"Rated among the first {_k(q)}", None),
            ),
        ],
        lambda q: [Line("precision_at_k", f"Precision@{_k(q)}")],
    ),
    TimeChart(
        "missing_sources",
        "Missing-source rate",
        "% of reviewed requests",
        "rate",
        lambda q: rate_measures(
            "missing_sources",
            "Missing-source rate",
            lambda f: f.missing_sources,
            hits=("A source added", {"missing_source": "yes"}),
            total=("Reviewed", {"feedback": "yes"}),
        ),
        lambda q: [Line("missing_sources", "Missing source")],
    ),
]
TIME_CHART_NAMES = [c.name for c in TIME_CHARTS]
CATEGORY_CHART_NAMES = ["reasons", "reviewers", "drift", "new_documents"]
CHART_NAMES = [*TIME_CHART_NAMES, *CATEGORY_CHART_NAMES]
TITLES = {c.name: c.title for c in TIME_CHARTS} | {
    "reasons": "Negative reasons",
    "reviewers": "Feedback per reviewer",
    "drift": "Drift: requests that retrieved a new document",
    "new_documents": "Top new documents",
}


def _bucket_scope(vq: VersionQuality, start: datetime, quality: Quality) -> Scope:
    w = quality.window
    end = start + STEP[w.bucket]
    return Scope(vq.version, max(start, w.since), min(end, w.until))


def _window_scope(vq: VersionQuality, quality: Quality) -> Scope:
    return Scope(vq.version, quality.window.since, quality.window.until)


def time_chart(spec: TimeChart, quality: Quality, colours: dict[str, str]) -> Chart:
    k = quality.window.k
    spec = replace(spec, title=spec.title.format(k=k), y_label=spec.y_label.format(k=k))
    measures = spec.measures(quality)
    lines = spec.lines(quality)
    rows = [
        Row(vq.version, start, _bucket_scope(vq, start, quality), f, {m.key: m.read(f) for m in measures})
        for vq in quality.versions
        for start, f in vq.series
    ]
    summary = _time_summary(spec, quality, measures, lines)
    stacked = spec.style == "stacked"
    if stacked and _bar_width(quality) < MIN_BAR:
        # Bars thinner than a line say nothing: the total of each version as a line instead.
        stacked, lines = False, [Line("requests", "All sources")]
    svg = (_stacked_svg if stacked else _line_svg)(spec, quality, rows, lines, colours, summary)
    legend = _version_legend(quality, colours)
    if stacked:
        legend += [
            (label, _swatch("#777", opacity=SOURCE_OPACITY[i % len(SOURCE_OPACITY)]))
            for i, label in enumerate(line.label for line in lines)
        ]
    elif len(lines) > 1:
        legend += [(line.label, _dash_swatch(line.dash)) for line in lines]
    definition = DEFINITIONS[spec.name].replace("first k", f"first {k}")
    return Chart(spec.name, spec.title, definition, "Bucket start", measures, rows, svg, legend, summary)


def _time_summary(spec, quality, measures, lines) -> str:
    w = quality.window
    by_key = {m.key: m for m in measures}
    parts = []
    for vq in quality.versions:
        bits = []
        for line in lines:
            m = by_key[line.key]
            bits.append(f"{line.label.lower()} {format_value(m.read(vq.total), m.kind)}")
        parts.append(f"version {version_label(vq.version)}: " + ", ".join(bits))
    head = f"{spec.title} per {w.bucket}, {_at_text(w.since)} to {_at_text(w.until)} UTC"
    return head + (". Over the range, " + "; ".join(parts) + "." if parts else ". No requests.")


# ---------------------------------------------------------------------------------------------
# Categories: reasons, reviewers, drift, new documents


def _category_rows(
    quality: Quality, pairs: Callable[[VersionQuality], list[tuple[str, int]]], filter_name: str
) -> list[Row]:
    """A row per version and category, for the categories with most requests over all versions."""
    totals: dict[str, int] = {}
    for vq in quality.versions:
        for category, n in pairs(vq):
            totals[category] = totals.get(category, 0) + n
    top = sorted(totals, key=lambda c: (-totals[c], c))[:MAX_CATEGORIES]
    rows = []
    for category in top:
        for vq in quality.versions:
            n = dict(pairs(vq)).get(category)
            if n is None:
                continue
            rows.append(
                Row(
                    vq.version,
                    category,
                    _window_scope(vq, quality),
                    None,
                    {"requests": n},
                    category_filter={filter_name: category},
                )
            )
    return rows


def category_chart(name: str, quality: Quality, colours: dict[str, str], log_url: str = "") -> Chart:
    if name == "drift":
        return _drift_chart(quality, colours, log_url)
    pairs, at_label, filter_name = {
        "reasons": (lambda vq: vq.reasons, "Reason", "reason"),
        "reviewers": (lambda vq: vq.reviewers, "Reviewer", "reviewer"),
        "new_documents": (lambda vq: vq.drift.top_new if vq.drift else [], "Doc URI", "doc_uri"),
    }[name]
    rows = _category_rows(quality, pairs, filter_name)
    measures = [Measure("requests", "Requests", counts={})]
    title = TITLES[name]
    summary = f"{title}, {_at_text(quality.window.since)} to {_at_text(quality.window.until)} UTC. " + (
        "; ".join(f"{row.at} ({version_label(row.version)}): {row.values['requests']}" for row in rows)
        or "None."
    )
    svg = _bars_svg(
        name, title, summary, rows, "requests", "count", colours, at_label, _bar_links(measures[0], log_url)
    )
    return Chart(
        name,
        title,
        DEFINITIONS[name],
        at_label,
        measures,
        rows,
        svg,
        _version_legend(quality, colours),
        summary,
    )


def _drift_chart(quality: Quality, colours: dict[str, str], log_url: str = "") -> Chart:
    w = quality.window
    novel_filter = (
        {"novel_since": iso(w.baseline_since), "novel_until": iso(w.baseline_until)}
        if (w.baseline_since and w.baseline_until)
        else None
    )
    measures = [
        Measure("retrieving", "Retrieved a document", counts={"retrieved": "yes"}),
        Measure("novel", "Retrieved a new document", counts=novel_filter),
        Measure("drift", "Drift", kind="rate"),
        Measure("drift_low", "95% low", kind="bound"),
        Measure("drift_high", "95% high", kind="bound"),
    ]
    rows = []
    for vq in quality.versions:
        d = vq.drift
        share = d.share if d else None
        values = {
            "retrieving": d.requests if d else None,
            "novel": d.novel if d else None,
            "drift": (d.novel / d.requests) if d and d.novel is not None and d.requests else None,
            "drift_low": share.low if share else None,
            "drift_high": share.high if share else None,
        }
        rows.append(Row(vq.version, version_label(vq.version), _window_scope(vq, quality), None, values))
    baseline = (
        f"baseline {_at_text(w.baseline_since)} to {_at_text(w.baseline_until)} UTC"
        if novel_filter
        else "no baseline"
    )
    if quality.baseline_empty:
        summary = f"No drift: the {baseline} retrieved no document, so every document would be new."
    else:
        summary = f"Drift against the {baseline}. " + (
            "; ".join(
                f"version {version_label(row.version)}: {format_value(row.values['drift'], 'rate')} "
                f"({format_value(row.values['novel'], 'count')} of "
                f"{format_value(row.values['retrieving'], 'count')})"
                for row in rows
            )
            or "No requests."
        )
    svg = _bars_svg(
        "drift",
        TITLES["drift"],
        summary,
        rows,
        "drift",
        "rate",
        colours,
        "Version",
        _bar_links(measures[1], log_url),
    )
    return Chart(
        "drift",
        TITLES["drift"],
        DEFINITIONS["drift"],
        None,
        measures,
        rows,
        svg,
        _version_legend(quality, colours),
        summary,
    )


def chart(name: str, quality: Quality, colours: dict[str, str], log_url: str = "") -> Chart:
    """The chart `name` (one of CHART_NAMES) of `quality`; bars of categories link into `log_url`."""
    for spec in TIME_CHARTS:
        if spec.name == name:
            return time_chart(spec, quality, colours)
    return category_chart(name, quality, colours, log_url)


def _bar_links(measure: Measure, log_url: str):
    return (lambda row: measure.link(row, log_url)) if log_url else (lambda row: None)


# ---------------------------------------------------------------------------------------------
# SVG

W, H = 400, 220
LEFT, RIGHT, TOP, BOTTOM = 46, 10, 10, 46
PLOT_W, PLOT_H = W - LEFT - RIGHT, H - TOP - BOTTOM


def _open_svg(name: str, title: str, summary: str, height: int = H, role: str = "img") -> str:
    # "group" when the drawing holds links: an image's parts are not reachable, links must be.
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="100%" role="{role}" '
        f'aria-labelledby="chart-{name}-title chart-{name}-desc" class="chart-svg" '
        f'data-chart="{escape(name)}">'
        f'<title id="chart-{name}-title">{escape(title)}</title>'
        f'<desc id="chart-{name}-desc">{escape(summary)}</desc>'
    )


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^n at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 10 ** -_decimals(value)
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _decimals(value: float) -> int:
    n = 0
    while value < 1:
        value *= 10
        n += 1
    return n


def _tick_text(value: float, kind: str) -> str:
    if kind == "rate":
        return f"{100 * value:.0f}%"
    if kind == "number":
        return f"{value:.2f}"
    if kind == "ms" and value >= 1000:
        return f"{value / 1000:g} s"
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _y_axis(y_max: float, kind: str, label: str) -> str:
    parts = ['<g class="grid">']
    for i in range(5):
        value = y_max * i / 4
        y = TOP + PLOT_H - PLOT_H * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{escape(_tick_text(value, kind))}</text>'
        )
    parts.append("</g>")
    parts.append(
        f'<text class="axis-title" transform="translate(11 {TOP + PLOT_H / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{escape(label)}</text>'
    )
    return "".join(parts)


def _x_axis(starts: list[datetime], bucket: str) -> str:
    n = len(starts)
    parts = [
        '<g class="axis">',
        f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{TOP + PLOT_H}" y2="{TOP + PLOT_H}"/>',
    ]
    # Few labels, short ones: they stay apart at 360 px too.
    step = max(1, -(-n // (3 if bucket == "hour" else 5)))
    for i in range(0, n, step):
        x = _x(i, n)
        label = f"{starts[i]:%b} {starts[i].day}" + (f" {starts[i]:%H}:00" if bucket == "hour" else "")
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP + PLOT_H}" y2="{TOP + PLOT_H + 4}"/>')
        parts.append(f'<text x="{x:.1f}" y="{TOP + PLOT_H + 16}" text-anchor="middle">{label}</text>')
    parts.append("</g>")
    parts.append(
        f'<text class="axis-title" x="{LEFT + PLOT_W / 2:.1f}" y="{H - 8}" text-anchor="middle">'
        f"Request time (UTC), per {bucket}{_years(starts)}</text>"
    )
    return "".join(parts)


def _years(starts: list[datetime]) -> str:
    years = sorted({start.year for start in starts})
    return f", {years[0]}" if len(years) == 1 else f", {years[0]}–{years[-1]}" if years else ""


def _x(i: int, n: int) -> float:
    return LEFT + (i + 0.5) * PLOT_W / max(n, 1)


def _y(value: float, y_max: float) -> float:
    return TOP + PLOT_H - PLOT_H * min(max(value / y_max, 0), 1)


def _number(value) -> float | None:
    return None if value is None else float(value)


def _series_by_version(quality: Quality, rows: list[Row]) -> dict[str, list[Row]]:
    by_version: dict[str, list[Row]] = {vq.version: [] for vq in quality.versions}
    for row in rows:
        by_version[row.version].append(row)
    return by_version


def _y_max(kind: str, values) -> float:
    if kind == "rate":
        return 1
    if kind == "number":
        return 1
    return nice_max(max([v for v in values if v is not None], default=0))


def _line_svg(spec: TimeChart, quality: Quality, rows, lines: list[Line], colours, summary) -> SafeString:
    by_version = _series_by_version(quality, rows)
    starts = [start for start, _ in quality.versions[0].series] if quality.versions else []
    n = len(starts)
    values = [
        _number(row.values[key]) for row in rows for line in lines for key in (line.key, *(line.band or ()))
    ]
    y_max = _y_max(spec.y_kind, values)
    marked = n <= MAX_MARKED_BUCKETS
    parts = [
        _open_svg(spec.name, spec.title, summary),
        _y_axis(y_max, spec.y_kind, spec.y_label),
        _x_axis(starts, quality.window.bucket),
    ]
    for version, vrows in by_version.items():
        colour = colours.get(version, PALETTE[0])
        parts.append(f'<g class="series" data-version="{escape(version)}">')
        for line in lines:
            points = [(_x(i, n), _number(row.values[line.key]), row) for i, row in enumerate(vrows)]
            if line.band:
                low, high = line.band
                for segment in _segments(
                    [(x, row) for x, v, row in points],
                    lambda row, low=low, high=high: (
                        row.values[low] is not None and row.values[high] is not None
                    ),
                ):
                    if len(segment) == 1:
                        # A lone bucket has no band to draw: its interval is a bar across its point.
                        [(x, row)] = segment
                        top, bottom = (_y(_number(row.values[k]), y_max) for k in (high, low))
                        parts.append(
                            f'<line class="band" x1="{x:.1f}" x2="{x:.1f}" y1="{top:.1f}" y2="{bottom:.1f}" '
                            f'stroke="{colour}" stroke-opacity="0.3" stroke-width="5"/>'
                        )
                        continue
                    upper = [f"{x:.1f},{_y(_number(row.values[high]), y_max):.1f}" for x, row in segment]
                    lower = [
                        f"{x:.1f},{_y(_number(row.values[low]), y_max):.1f}" for x, row in reversed(segment)
                    ]
                    parts.append(
                        f'<polygon class="band" points="{" ".join(upper + lower)}" fill="{colour}" '
                        'fill-opacity="0.15" stroke="none"/>'
                    )
            dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
            for segment in _segments(
                [(x, (v, row)) for x, v, row in points], lambda item: item[0] is not None
            ):
                coords = " ".join(f"{x:.1f},{_y(v, y_max):.1f}" for x, (v, _) in segment)
                if len(segment) > 1:
                    parts.append(
                        f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
                    )
                for x, (v, row) in segment:
                    if marked or len(segment) == 1:
                        tip = _point_tip(spec, line, version, row)
                        parts.append(
                            f'<circle cx="{x:.1f}" cy="{_y(v, y_max):.1f}" r="2.5" fill="{colour}">'
                            f"<title>{escape(tip)}</title></circle>"
                        )
        parts.append("</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above went through escape()


def _point_tip(spec: TimeChart, line: Line, version: str, row: Row) -> str:
    value = row.values[line.key]
    kind = "rate" if spec.y_kind == "rate" else spec.y_kind
    text = f"{version_label(version)} · {_at_text(row.at)} · {line.label}: {format_value(value, kind)}"
    hits, total = row.values.get(f"{line.key}_hits"), row.values.get(f"{line.key}_total")
    if hits is not None and total is not None:
        text += f" ({hits} of {total})"
    if line.band:
        low, high = (row.values[k] for k in line.band)
        if low is not None and high is not None:
            text += f", 95% interval {format_value(low, 'rate')}–{format_value(high, 'rate')}"
    return text


def _segments(items, present):
    """Runs of consecutive items for which `present(item)` holds (lines break where a value is missing)."""
    segment = []
    for x, item in items:
        if present(item):
            segment.append((x, item))
        elif segment:
            yield segment
            segment = []
    if segment:
        yield segment


def _bar_width(quality: Quality) -> float:
    n = len(quality.versions[0].series) if quality.versions else 1
    return PLOT_W / max(n, 1) * 0.8 / max(len(quality.versions), 1)


def _stacked_svg(spec: TimeChart, quality: Quality, rows, lines: list[Line], colours, summary) -> SafeString:
    by_version = _series_by_version(quality, rows)
    starts = [start for start, _ in quality.versions[0].series] if quality.versions else []
    n = len(starts)
    totals = [sum(row.values[line.key] or 0 for line in lines) for row in rows]
    y_max = _y_max("count", totals)
    group = PLOT_W / max(n, 1)
    nv = max(len(by_version), 1)
    bar = group * 0.8 / nv
    marked = n <= MAX_MARKED_BUCKETS
    parts = [
        _open_svg(spec.name, spec.title, summary),
        _y_axis(y_max, "count", spec.y_label),
        _x_axis(starts, quality.window.bucket),
    ]
    for j, (version, vrows) in enumerate(by_version.items()):
        colour = colours.get(version, PALETTE[0])
        parts.append(f'<g class="series" data-version="{escape(version)}">')
        for i, row in enumerate(vrows):
            x = LEFT + i * group + group * 0.1 + j * bar
            base = 0
            for s, line in enumerate(lines):
                value = row.values[line.key] or 0
                if not value:
                    continue
                y_top, y_bottom = _y(base + value, y_max), _y(base, y_max)
                tip = f"{version_label(version)} · {_at_text(row.at)} · {line.label}: {value}"
                title = f"<title>{escape(tip)}</title>" if marked else ""
                parts.append(
                    f'<rect x="{x:.2f}" y="{y_top:.1f}" width="{bar:.2f}" height="{y_bottom - y_top:.1f}" '
                    f'fill="{colour}" fill-opacity="{SOURCE_OPACITY[s % len(SOURCE_OPACITY)]}">{title}</rect>'
                )
                base += value
        parts.append("</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above went through escape()


def _bars_svg(
    name, title, summary, rows: list[Row], key: str, kind: str, colours, at_label: str, links
) -> SafeString:
    """Horizontal bars, one per row, grouped by category (the row's `at`)."""
    label_w, value_w = 150, 58
    bar_h, gap = 12, 8
    categories = list(dict.fromkeys(row.at for row in rows))
    per_category = {c: [r for r in rows if r.at == c] for c in categories}
    height = TOP + sum(len(per_category[c]) * bar_h + gap for c in categories) + 34
    height = max(height, 70)
    y_max = _y_max(kind, [_number(row.values[key]) for row in rows])
    plot_w = W - label_w - value_w
    parts = [_open_svg(name, title, summary, height, role="group")]
    y = TOP
    axis_y = height - 30
    parts.append(f'<g class="axis"><line x1="{label_w}" x2="{label_w}" y1="{TOP}" y2="{axis_y}"/></g>')
    for category in categories:
        group = per_category[category]
        mid = y + len(group) * bar_h / 2
        text = str(category)
        short = text if len(text) <= CATEGORY_CHARS else text[: CATEGORY_CHARS - 1] + "…"
        parts.append(
            f'<text x="{label_w - 4}" y="{mid + 4:.1f}" text-anchor="end"><title>{escape(text)}</title>'
            f"{escape(short)}</text>"
        )
        for row in group:
            value = row.values[key]
            width = plot_w * min((_number(value) or 0) / y_max, 1)
            colour = colours.get(row.version, PALETTE[0])
            tip = f"{text} · {version_label(row.version)}: {format_value(value, kind)}"
            bar = (
                f'<rect x="{label_w}" y="{y + 1:.1f}" width="{width:.1f}" height="{bar_h - 2}" fill="{colour}">'
                f"<title>{escape(tip)}</title></rect>"
                f'<text x="{label_w + width + 4:.1f}" y="{y + bar_h - 2:.1f}">{escape(format_value(value, kind))}</text>'
            )
            link = links(row)
            if link is not None:
                bar = f'<a href="{escape(link.href)}" data-rows="{link.rows}">{bar}</a>'
            parts.append(bar)
            y += bar_h
        y += gap
    parts.append(
        f'<text class="axis-title" x="{label_w + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle">'
        f"{'Share of requests that retrieved a document' if kind == 'rate' else 'Requests'}</text>"
    )
    parts.append(f'<text class="axis-title" x="4" y="{height - 8}">{escape(at_label)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above went through escape()


def _swatch(colour: str, opacity: float = 1.0) -> SafeString:
    return mark_safe(  # noqa: S308 - colours are ours
        f'<svg viewBox="0 0 10 10" width="10" height="10" aria-hidden="true" class="swatch">'
        f'<rect width="10" height="10" fill="{colour}" fill-opacity="{opacity}"/></svg>'
    )


def _dash_swatch(dash: str) -> SafeString:
    pattern = f' stroke-dasharray="{dash}"' if dash else ""
    return mark_safe(  # noqa: S308 - dash patterns are ours
        f'<svg viewBox="0 0 24 10" width="24" height="10" aria-hidden="true" class="swatch">'
        f'<line x1="0" x2="24" y1="5" y2="5" stroke="#555" stroke-width="2"{pattern}/></svg>'
    )


def _version_legend(quality: Quality, colours) -> list[tuple[str, SafeString]]:
    return [
        (version_label(vq.version), _swatch(colours.get(vq.version, PALETTE[0]))) for vq in quality.versions
    ]


# ---------------------------------------------------------------------------------------------
# Every figure side by side, one column per version


@dataclass
class FigureCell:
    value: str = "—"
    link: Link | None = None  # the value is itself a count of requests, or read from them
    hits: Link | None = None  # a rate's numerator and denominator
    total: Link | None = None
    total_prefix: str = ""  # the word before the total when there is no numerator ("over")
    note: str = ""


@dataclass
class FigureRow:
    key: str
    label: str
    definition: str
    cells: list[FigureCell]


@dataclass
class FigureSection:
    title: str
    rows: list[FigureRow]


def _link(value, scope: Scope, filters: dict, log_url: str, rows: int | None = None, kind="count") -> Link:
    href = f"{log_url}?{scope.log_query(**filters)}"
    if rows is None:
        return Link(format_value(value, kind), href, value)
    return Link(format_value(value, kind), href, rows, exact=False)


def _rate_cell(
    rate: Rate | None,
    scope: Scope,
    log_url: str,
    hits: dict | None,
    total: dict | None,
    *,
    hits_rows: int | None = None,
    total_rows: int | None = None,
    interval: bool = False,
) -> FigureCell:
    if rate is None:
        return FigureCell()
    cell = FigureCell(format_value(rate.value, "rate"))
    cell.hits = _link(rate.hits, scope, hits, log_url, hits_rows) if hits is not None else None
    cell.total = _link(rate.total, scope, total, log_url, total_rows) if total is not None else None
    if hits is None:
        cell.note = f"{rate.hits:,} of {rate.total:,}"
    if interval and rate.low is not None and rate.high is not None:
        cell.note = f"95% interval {format_value(rate.low, 'rate')}–{format_value(rate.high, 'rate')}"
    return cell


def figure_sections(
    quality: Quality, order: list[VersionQuality], log_url: str, *, prices: bool
) -> list[FigureSection]:
    """Every total figure of the versions in `order`, each count linking to the requests it counts."""
    w = quality.window
    scopes = [_window_scope(vq, quality) for vq in order]
    totals = [vq.total for vq in order]

    def row(key, label, make, definition=None):
        return FigureRow(
            key,
            label,
            definition or DEFINITIONS.get(key, ""),
            [make(f, s) for f, s in zip(totals, scopes, strict=True)],
        )

    def count(get, filters):
        return lambda f, s: FigureCell(format_value(get(f), "count"), link=_link(get(f), s, filters, log_url))

    def read_from_requests(get, kind):
        # A sum over the requests (tokens, cost): the link lists the requests summed.
        def make(f, s):
            value = get(f)
            if value is None:
                return FigureCell()
            return FigureCell(
                format_value(value, kind), link=_link(value, s, {}, log_url, rows=f.requests, kind=kind)
            )

        return make

    def latency(p):
        def make(f, s):
            timed = f.latency_ms.get("n") or 0
            return FigureCell(
                format_value(f.latency_ms.get(p), "ms"),
                total=_link(timed, s, {"timed": "yes"}, log_url),
                total_prefix="of",
                note="timed",
            )

        return make

    sources = _sources(quality)
    traffic = [
        row("requests", "Requests", count(lambda f: f.requests, {})),
        *(
            row(
                f"source_{source}",
                f"… from {SOURCE_LABELS.get(source, source)}",
                count(lambda f, s=source: f.by_source.get(s, 0), {"source": source}),
                DEFINITIONS["requests"],
            )
            for source in sources
            if any(f.by_source.get(source) for f in totals) or source in SOURCES
        ),
        row(
            "errors",
            "Error rate",
            lambda f, s: _rate_cell(f.errors, s, log_url, {"status": "error"}, {}),
            "Requests whose status is error, of all requests.",
        ),
        row(
            "incomplete",
            "Incomplete rate",
            lambda f, s: _rate_cell(f.incomplete, s, log_url, {"status": "incomplete"}, {}),
            "Requests whose answer stopped part-way, of all requests.",
        ),
        *(
            row(f"latency_{p}", f"Latency {p}", latency(p), DEFINITIONS["latency"])
            for p in ("p50", "p95", "p99")
        ),
        *(
            row(
                f"tokens_{kind}",
                f"{kind.capitalize()} tokens",
                read_from_requests(_tokens(kind), "count"),
                DEFINITIONS["tokens"],
            )
            for kind in ("request", "response", "total")
        ),
    ]
    if prices:
        traffic.append(row("cost", "Estimated cost", read_from_requests(lambda f: f.cost, "money")))
    people = [
        row(
            "reviewed",
            "Reviewed share",
            lambda f, s: _rate_cell(f.reviewed, s, log_url, {"feedback": "yes"}, {}),
        ),
        row(
            "thumbs_up",
            "Thumbs-up rate",
            lambda f, s: _rate_cell(
                f.thumbs_up, s, log_url, {"verdict": "positive"}, {"verdict": "rated"}, interval=True
            ),
        ),
        row(
            "corrections",
            "Correction rate",
            lambda f, s: _rate_cell(f.corrections, s, log_url, {"corrected": "yes"}, {"feedback": "yes"}),
        ),
    ]

    def mrr(f, s):
        if f.mrr is None:
            return FigureCell()
        rated = _link(f.mrr_n, s, {"retrieval": "rated"}, log_url)
        return FigureCell(format_value(f.mrr, "number"), total=rated, total_prefix="over")

    retrieval = [
        row(
            "chunk_precision",
            "Chunk precision",
            lambda f, s: _rate_cell(
                f.chunk_precision,
                s,
                log_url,
                {"retrieval": "hit"},
                {"retrieval": "rated"},
                hits_rows=_hit_requests(f),
                total_rows=_rated_requests(f),
            ),
        ),
        row(
            "hit_rate",
            "Hit rate",
            lambda f, s: _rate_cell(f.hit_rate, s, log_url, {"retrieval": "hit"}, {"retrieval": "rated"}),
        ),
        row("mrr", "MRR", mrr),
        row(
            "precision_at_k",
            f"Precision@{w.k}",
            lambda f, s: _rate_cell(f.precision_at_k, s, log_url, None, None),
            DEFINITIONS["precision_at_k"].replace("first k", f"first {w.k}"),
        ),
        row(
            "missing_sources",
            "Missing-source rate",
            lambda f, s: _rate_cell(
                f.missing_sources, s, log_url, {"missing_source": "yes"}, {"feedback": "yes"}
            ),
        ),
    ]

    def drift(vq, s):
        d = vq.drift
        if d is None:
            return FigureCell()
        if d.baseline_empty:
            return FigureCell(note="the baseline retrieved no document")
        cell = FigureCell(format_value(d.novel / d.requests if d.requests else None, "rate"))
        novel = {"novel_since": iso(w.baseline_since), "novel_until": iso(w.baseline_until)}
        cell.hits = _link(d.novel, s, novel, log_url)
        cell.total = _link(d.requests, s, {"retrieved": "yes"}, log_url)
        return cell

    drift_rows = [
        FigureRow(
            "drift",
            "Drift",
            DEFINITIONS["drift"],
            [drift(vq, s) for vq, s in zip(order, scopes, strict=True)],
        )
    ]
    return [
        FigureSection("Traffic and health", traffic),
        FigureSection("Quality from people", people),
        FigureSection("Retrieval from chunk ratings", retrieval),
        FigureSection("Drift", drift_rows),
    ]
