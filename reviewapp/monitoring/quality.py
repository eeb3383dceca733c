"""Quality over time per app version: the dashboard's and the quality API's figures.

Every figure is an SQL aggregate (PostgreSQL and SQLite): requests from the request log, people's
feedback from each request's summary (feedback.RequestFeedback, FeedbackReason), reviewers from the
assessment log, drift from requestlog.RetrievedDocument. Rates carry the counts behind them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, DateTimeField, F, FloatField, Func, Q, Sum, Value
from django.db.models.functions import Cast, Trunc

from reviewapp.accounts.models import User
from reviewapp.feedback import summary
from reviewapp.feedback.models import FeedbackReason, FeedbackReviewer, RequestFeedback
from reviewapp.judges.models import JudgeResult
from reviewapp.requestlog.models import Request, RetrievedDocument

from . import stats

BUCKETS = ("hour", "day", "week")
PRECISION_AT = (1, 3, 5)
STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
MAX_BUCKETS = 2000
MAX_VERSIONS = 12
VERSION_CHARS = 100  # Request.app_version
TOP_NEW_DOCUMENTS = 10
# Bounds on the lists of one version; reasons are the app's choices, so rarely near it.
MAX_REASONS = 50
MAX_REVIEWERS = 100
PERCENTILES = (50, 95, 99)
SOURCES = tuple(Request.Source.values)
WORK_MEM = "64MB"  # PostgreSQL, for the aggregates of one answer (see _tune_for_aggregates)


@dataclass(frozen=True)
class Window:
    """What to compute: a time range [since, until) of request times, bucketed; some versions or all."""

    since: datetime
    until: datetime
    bucket: str = "day"  # one of BUCKETS
    versions: tuple[str, ...] | None = None  # None: every version that served requests in range
    baseline_since: datetime | None = None  # drift baseline; None: no drift figures
    baseline_until: datetime | None = None
    k: int = 3  # precision@k, one of PRECISION_AT


@dataclass
class Rate:
    """`hits` of `total`, with its 95% Wilson interval (None when total is 0)."""

    hits: int
    total: int
    value: float | None = None
    low: float | None = None
    high: float | None = None


@dataclass
class Figures:
    """Every figure for one version over one bucket (or over the whole window)."""

    requests: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    errors: Rate | None = None  # status error of requests
    incomplete: Rate | None = None  # status incomplete of requests
    latency_ms: dict[str, int | None] = field(default_factory=dict)  # {"p50", "p95", "p99", "n"}
    tokens: dict[str, int] = field(default_factory=dict)  # {"request", "response", "total"} sums
    cost: Decimal | None = None  # None when the app has no prices
    reviewed: Rate | None = None  # requests with feedback / requests
    thumbs_up: Rate | None = None  # verdict positive / requests with a verdict (positive, negative, mixed)
    corrections: Rate | None = None  # reviewed requests with a correction / reviewed
    missing_sources: Rate | None = None  # reviewed requests where a reviewer added a source / reviewed
    chunk_precision: Rate | None = None  # passages relevant / passages rated
    hit_rate: Rate | None = None  # requests with a relevant passage / requests with a rated passage
    mrr: float | None = None  # mean of 1/first relevant rank (0 when none) over requests with a rated passage
    mrr_n: int = 0
    precision_at_k: Rate | None = None  # relevant among the first k passages / rated among them
    # Each judge version's passes of the requests it judged ("name vN" → rate; errors left out),
    # by the requests' time as every figure here: beside the thumbs-up rate of the same requests.
    judges: dict[str, Rate] = field(default_factory=dict)


@dataclass
class VersionQuality:
    version: str  # "" for requests logged without a version
    total: Figures
    series: list[tuple[datetime, Figures]]  # one per bucket start in the window, empty buckets included
    reasons: list[tuple[str, int]]  # negative reasons ranked: (reason, requests giving it)
    reviewers: list[tuple[str, int]]  # (reviewer email, requests they reviewed), most first
    drift: Drift | None = None


@dataclass
class Drift:
    requests: int  # requests in the window that retrieved any document
    novel: int | None  # of them, requests that retrieved a document the baseline never retrieved
    top_new: list[tuple[str, int]]  # (doc_uri, requests) never seen in the baseline, most first
    share: Rate | None = None  # novel of requests, with its interval
    baseline_empty: bool = False  # the baseline retrieved no document: novel and share are None


@dataclass
class Comparison:
    """A/B on the thumbs-up rate: two-proportion z-test of B against A."""

    a: str
    b: str
    difference: float | None  # rate B - rate A
    p_value: float | None
    verdict: str  # "better" | "worse" | "not distinguishable"
    sentence: str  # e.g. "B is better (p = 0.012)." / "... N more reviews needed"
    more_reviews_needed: int | None  # per version, for 80% power at the observed rates; None when decided


@dataclass
class Quality:
    window: Window
    versions: list[VersionQuality]  # newest version first
    comparison: Comparison | None = None  # when exactly two versions were asked for
    versions_left_out: int = 0  # versions with requests in range beyond MAX_VERSIONS (fewest requests)

    @property
    def baseline_empty(self) -> bool:
        """A drift baseline was given and retrieved no document: drift is not measured."""
        return any(v.drift is not None and v.drift.baseline_empty for v in self.versions)


class WindowError(ValueError):
    """A window that cannot be computed; `field` names the parameter at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def bucket_start(moment: datetime, bucket: str) -> datetime:
    """The start of the bucket holding `moment`, in UTC; weeks start on Monday, as the databases' trunc."""
    moment = moment.astimezone(UTC)
    if bucket == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday()) if bucket == "week" else day


def _bucket_count(window: Window) -> int:
    first = bucket_start(window.since, window.bucket)
    return -((first - window.until) // STEP[window.bucket])  # ceil((until - first) / step)


def bucket_starts(window: Window) -> list[datetime]:
    """Every bucket start of the window, empty ones included."""
    first, step = bucket_start(window.since, window.bucket), STEP[window.bucket]
    return [first + i * step for i in range(_bucket_count(window))]


def check(window: Window) -> None:
    """WindowError naming the field when `window` cannot be computed; the API shows it as a 400."""
    if window.bucket not in BUCKETS:
        raise WindowError("bucket", f"must be one of {', '.join(BUCKETS)}.")
    if window.k not in PRECISION_AT:
        raise WindowError("k", f"must be one of {', '.join(map(str, PRECISION_AT))}.")
    for name in ("since", "until", "baseline_since", "baseline_until"):
        moment = getattr(window, name)
        if moment is not None and moment.utcoffset() is None:
            raise WindowError(name, "needs a time zone.")
    if window.since >= window.until:
        raise WindowError("since", "must be before until.")
    if (window.baseline_since is None) != (window.baseline_until is None):
        missing = "baseline_since" if window.baseline_since is None else "baseline_until"
        raise WindowError(missing, "give baseline_since and baseline_until together.")
    if window.baseline_since is not None and window.baseline_since >= window.baseline_until:
        raise WindowError("baseline_since", "must be before baseline_until.")
    if window.versions is not None:
        if not window.versions:
            raise WindowError("versions", "name at least one version, or leave it out for all.")
        if len(window.versions) > MAX_VERSIONS:
            raise WindowError("versions", f"at most {MAX_VERSIONS} versions at a time.")
        if any(len(version) > VERSION_CHARS for version in window.versions):
            raise WindowError("versions", f"a version has at most {VERSION_CHARS} characters.")
    count = _bucket_count(window)
    if count > MAX_BUCKETS:
        raise WindowError(
            "bucket",
            f"{count:,} {window.bucket}s from since to until; at most {MAX_BUCKETS:,}: choose a larger "
            "bucket or a shorter range.",
        )


def quality(app, window: Window) -> Quality:
    """The figures of `app` over `window` (see the module's docstring); WindowError for a bad window."""
    check(window)
    summary.catch_up()  # feedback recorded since the last sum
    starts = bucket_starts(window)
    asked = list(dict.fromkeys(window.versions)) if window.versions is not None else None
    # savepoint=False: no SAVEPOINT round trips when a caller already holds a transaction.
    with transaction.atomic(savepoint=False):
        _tune_for_aggregates()
        tallies, latency = _requests(app, window, asked)
        if asked is not None:
            chosen, left_out = asked, 0
        else:
            # The versions that served most requests, when more than a page of them did.
            served = sorted(tallies, key=lambda v: (-sum(t["requests"] for t in tallies[v].values()), v))
            chosen, left_out = served[:MAX_VERSIONS], max(len(served) - MAX_VERSIONS, 0)
        # Later queries filter on versions only when some must be left out: one index range is cheaper.
        only = chosen if asked is not None or left_out else None
        _feedback(app, window, only, tallies)
        _judges(app, window, only, tallies)
        reasons = _reasons(app, window, only)
        reviewers = _reviewers(app, window, only)
        drift = _drift(app, window, only, tallies) if window.baseline_since is not None else {}
    prices = (app.price_input_per_1k, app.price_output_per_1k)

    versions = []
    for version in sorted(chosen, key=version_key, reverse=True):
        by_start = tallies.get(version, {})
        total: dict = {}
        for tally in by_start.values():
            _add(total, tally)
        versions.append(
            VersionQuality(
                version=version,
                total=_figures(total, latency.get((version, None)), prices),
                series=[
                    (start, _figures(by_start.get(start, {}), latency.get((version, start)), prices))
                    for start in starts
                ],
                reasons=reasons.get(version, [])[:MAX_REASONS],
                reviewers=reviewers.get(version, []),
                drift=drift.get(version, Drift(0, 0, [])) if window.baseline_since is not None else None,
            )
        )
    _fill_intervals(versions)
    comparison = None
    if asked is not None and len(asked) == 2:
        by_version = {v.version: v for v in versions}
        comparison = compare(by_version[asked[0]], by_version[asked[1]])
    return Quality(window=window, versions=versions, comparison=comparison, versions_left_out=left_out)


# --- the queries: each one grouped by (version, bucket) or by version ---
#
# Some are SQL written here rather than by the ORM: percentiles (with every request figure in one pass
# on PostgreSQL), reviewers (joined to the narrow feedback summaries, not to the request log's wide
# rows) and drift (each new document looked up in the baseline once, not once per row).


def _tune_for_aggregates() -> None:
    """PostgreSQL, for this transaction: room to group in memory (the planner's guess of the groups
    of a time bucket is far above the real few hundred, so it would sort on disk instead), and no
    JIT compilation, which costs more than it saves on queries that take a fraction of a second."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('work_mem', %s, true), set_config('jit', 'off', true)", [WORK_MEM]
            )


# PostgreSQL's date_bin: the same bucket starts as date_trunc in UTC (2000-01-03 was a Monday), at
# a fifth less per row than date_trunc(..., column AT TIME ZONE 'UTC'). Written as constants, so
# the planner matches the statistics on these expressions (feedback migration 0005).
DATE_BIN = "date_bin('1 {bucket}'::interval, %(expressions)s, '2000-01-03 00:00:00+00'::timestamptz)"


def _trunc(field_name: str, window: Window):
    if connection.vendor == "postgresql":
        template = DATE_BIN.replace("{bucket}", window.bucket)
        return Func(F(field_name), template=template, output_field=DateTimeField())
    return Trunc(field_name, window.bucket, tzinfo=UTC)


def _in_window(queryset, app, time_field: str, version_field: str, window: Window, versions):
    queryset = queryset.filter(
        app=app, **{f"{time_field}__gte": window.since, f"{time_field}__lt": window.until}
    )
    if versions is not None:
        queryset = queryset.filter(**{f"{version_field}__in": versions})
    return queryset.order_by()


def _where(alias: str, time_column: str, app, since, until, versions=None, version_column="app_version"):
    """SQL conditions (and their parameters) of one app's rows in [since, until), of some versions."""
    adapt = connection.ops.adapt_datetimefield_value
    sql = f"{alias}.app_id = %s AND {alias}.{time_column} >= %s AND {alias}.{time_column} < %s"
    params = [app.pk, adapt(since), adapt(until)]
    if versions is not None:
        sql += f" AND {alias}.{version_column} IN ({', '.join(['%s'] * len(versions))})"
        params += list(versions)
    return sql, params


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _utc(moment) -> datetime:
    """A bucket start as the database gave it (aware, naive UTC, or SQLite's text), aware in UTC."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment.astimezone(UTC)


def _add(tally: dict, row: dict) -> None:
    for name, value in row.items():
        tally[name] = tally.get(name, 0) + (value or 0)


TRAFFIC = (
    "requests",
    "retrieving",
    "errors",
    "incomplete",
    "tokens_request",
    "tokens_response",
    "tokens_total",
    *(f"source_{source}" for source in SOURCES),
)


def _requests(app, window: Window, versions):
    """From the request log: ({version: {bucket start: tally}} of counts by status and source and
    token sums, {(version, bucket start or None for the whole window): (p50, p95, p99, n)}).

    Percentiles are the nearest rank: the p-th of n values is the one at rank ceil(p * n / 100) in
    ascending order. PostgreSQL's percentile_disc is that definition (its float product agrees with
    the integer arithmetic below for p in 50, 95, 99 and any n up to millions), and there one pass
    over the rows gives every figure, per bucket and per version (grouping sets). Elsewhere (SQLite)
    the counts are an ORM aggregate and a row number over each group picks the percentiles: the
    least value whose rank r has r * 100 >= p * n.
    """
    requests = _in_window(Request.objects, app, "created_at", "app_version", window, versions)
    tallies: dict[str, dict[datetime, dict]] = {v: {} for v in versions or []}
    if connection.vendor != "postgresql":
        return _traffic(requests, window, tallies), _latency(requests, window)
    logged = requests.annotate(bucket=_trunc("created_at", window)).values_list(
        "app_version",
        "bucket",
        "source",
        "status",
        "documents",
        "latency_ms",
        "request_tokens",
        "response_tokens",
        "total_tokens",
    )
    inner, inner_params = logged.query.sql_with_params()
    fractions = ", ".join(str(p / 100) for p in PERCENTILES)
    sql = (
        "SELECT app_version, bucket, COUNT(*), COUNT(*) FILTER (WHERE documents > 0), "
        "COUNT(*) FILTER (WHERE status = %s), "
        "COUNT(*) FILTER (WHERE status = %s), SUM(request_tokens), SUM(response_tokens), SUM(total_tokens), "
        + "".join("COUNT(*) FILTER (WHERE source = %s), " for _source in SOURCES)
        + f"percentile_disc(ARRAY[{fractions}]) WITHIN GROUP (ORDER BY latency_ms), COUNT(latency_ms) "
        f"FROM ({inner}) AS logged GROUP BY GROUPING SETS ((app_version, bucket), (app_version))"
    )
    params = [Request.Status.ERROR, Request.Status.INCOMPLETE, *SOURCES, *inner_params]
    latency = {}
    for version, bucket, *values in _fetch(sql, params):
        *counts, percentiles, timed = values
        start = None if bucket is None else _utc(bucket)
        latency[(version, start)] = (*(percentiles or (None,) * len(PERCENTILES)), timed)
        if start is not None:
            _add(
                tallies.setdefault(version, {}).setdefault(start, {}), dict(zip(TRAFFIC, counts, strict=True))
            )
    return tallies, latency


def _traffic(requests, window: Window, tallies: dict) -> dict[str, dict[datetime, dict]]:
    rows = (
        requests.annotate(bucket=_trunc("created_at", window))
        .values("app_version", "bucket")
        .annotate(
            requests=Count("pk"),
            retrieving=Count("pk", filter=Q(documents__gt=0)),
            errors=Count("pk", filter=Q(status=Request.Status.ERROR)),
            incomplete=Count("pk", filter=Q(status=Request.Status.INCOMPLETE)),
            tokens_request=Sum("request_tokens"),
            tokens_response=Sum("response_tokens"),
            tokens_total=Sum("total_tokens"),
            **{f"source_{source}": Count("pk", filter=Q(source=source)) for source in SOURCES},
        )
    )
    for row in rows:
        version, start = row.pop("app_version"), _utc(row.pop("bucket"))
        _add(tallies.setdefault(version, {}).setdefault(start, {}), row)
    return tallies


def _latency(requests, window: Window) -> dict[tuple[str, datetime | None], tuple]:
    timed = (
        requests.filter(latency_ms__isnull=False)
        .annotate(bucket=_trunc("created_at", window))
        .values_list("app_version", "bucket", "latency_ms")
    )
    inner, params = timed.query.sql_with_params()

    def picks(rank: str, n: str) -> str:
        return ", ".join(f"MIN(CASE WHEN {rank} * 100 >= {p} * {n} THEN latency_ms END)" for p in PERCENTILES)

    sql = (
        "WITH ranked AS (SELECT app_version, bucket, latency_ms, "
        "ROW_NUMBER() OVER (PARTITION BY app_version, bucket ORDER BY latency_ms) AS rank_in_bucket, "
        "COUNT(*) OVER (PARTITION BY app_version, bucket) AS in_bucket, "
        "ROW_NUMBER() OVER (PARTITION BY app_version ORDER BY latency_ms) AS rank_in_version, "
        f"COUNT(*) OVER (PARTITION BY app_version) AS in_version FROM ({inner}) AS timed) "
        f"SELECT app_version, bucket, {picks('rank_in_bucket', 'in_bucket')}, MAX(in_bucket) "
        "FROM ranked GROUP BY app_version, bucket UNION ALL "
        f"SELECT app_version, NULL, {picks('rank_in_version', 'in_version')}, MAX(in_version) "
        "FROM ranked GROUP BY app_version"
    )
    return {
        (version, None if start is None else _utc(start)): tuple(int(v) for v in values)
        for version, start, *values in _fetch(sql, params)
    }


def _feedback(app, window: Window, versions, tallies) -> None:
    """Adds people's figures to `tallies`, from each request's feedback summary."""
    summaries = _in_window(
        RequestFeedback.objects, app, "request_created_at", "app_version", window, versions
    )
    rated = [v for v in RequestFeedback.Verdict.values if v]
    rows = (
        summaries.annotate(bucket=_trunc("request_created_at", window))
        .values("app_version", "bucket")
        .annotate(
            reviewed=Count("pk"),
            rated=Count("pk", filter=Q(verdict__in=rated)),
            up=Count("pk", filter=Q(verdict=RequestFeedback.Verdict.POSITIVE)),
            corrected=Count("pk", filter=Q(corrections__gt=0)),
            missing=Count("pk", filter=Q(missing_sources__gt=0)),
            rated_passages=Sum("passages_rated"),
            relevant_passages=Sum("passages_relevant"),
            with_rated=Count("pk", filter=Q(passages_rated__gt=0)),
            with_relevant=Count("pk", filter=Q(first_relevant_rank__isnull=False)),
            reciprocal_ranks=Sum(Value(1.0) / Cast("first_relevant_rank", FloatField())),
            rated_at_k=Sum(f"rated_at_{window.k}"),
            relevant_at_k=Sum(f"relevant_at_{window.k}"),
        )
    )
    for row in rows:
        version, start = row.pop("app_version"), _utc(row.pop("bucket"))
        row["reciprocal_ranks"] = float(row["reciprocal_ranks"] or 0)
        _add(tallies.setdefault(version, {}).setdefault(start, {}), row)


JUDGED = "judged:"  # a tally's key of a judge version's results: judged:<label>, passed:<label>
PASSED = "passed:"


def _judges(app, window: Window, versions, tallies) -> None:
    """Adds each live judge version's verdicts to `tallies`, bucketed by their request's time."""
    results = _in_window(
        JudgeResult.objects.filter(
            version__judge__deleted_at__isnull=True,
            value__in=[JudgeResult.Value.PASS, JudgeResult.Value.FAIL],
        ),
        app,
        "request__created_at",
        "app_version",
        window,
        versions,
    )
    rows = (
        results.annotate(bucket=_trunc("request__created_at", window))
        .values("app_version", "bucket", "version__judge__name", "version__number")
        .annotate(n=Count("pk"), passed=Count("pk", filter=Q(value=JudgeResult.Value.PASS)))
    )
    for row in rows:
        label = f"{row['version__judge__name']} v{row['version__number']}"
        tally = tallies.setdefault(row["app_version"], {}).setdefault(_utc(row["bucket"]), {})
        _add(tally, {JUDGED + label: row["n"], PASSED + label: row["passed"]})


def _reasons(app, window: Window, versions) -> dict[str, list[tuple[str, int]]]:
    """{version: [(reason, requests whose thumbs down in force gives it)]}, most first."""
    given = _in_window(FeedbackReason.objects, app, "request_created_at", "app_version", window, versions)
    rows = given.values_list("app_version", "reason").annotate(requests=Count("pk"))
    reasons: dict[str, list[tuple[str, int]]] = {}
    for version, reason, requests in sorted(rows, key=lambda r: (-r[2], r[1])):
        reasons.setdefault(version, []).append((reason, requests))
    return reasons


def _reviewers(app, window: Window, versions) -> dict[str, list[tuple[str, int]]]:
    """{version: [(reviewer email, requests they assessed)]}, most first.

    Grouped by the request's version and time, read from FeedbackReviewer (one narrow row per request
    and reviewer): the assessment's own copy of the version holds the app's version for a request
    logged without one, which the other figures count as "".
    """
    where, params = _where("r", "request_created_at", app, window.since, window.until, versions)
    # Grouped by reviewer id (a number sorts faster than an email); emails are joined to the few groups.
    sql = (
        "SELECT app_version, email, requests FROM (SELECT g.app_version AS app_version, u.email AS email, "
        "g.requests AS requests, ROW_NUMBER() OVER (PARTITION BY g.app_version ORDER BY g.requests DESC, "
        "u.email) AS place FROM (SELECT r.app_version AS app_version, r.reviewer_id AS reviewer_id, "
        f"COUNT(*) AS requests FROM {FeedbackReviewer._meta.db_table} r WHERE {where} "
        f"GROUP BY r.app_version, r.reviewer_id) AS g JOIN {User._meta.db_table} u ON u.id = g.reviewer_id) "
        "AS ranked WHERE place <= %s"
    )
    reviewers: dict[str, list[tuple[str, int]]] = {}
    for version, email, requests in sorted(
        _fetch(sql, [*params, MAX_REVIEWERS]), key=lambda r: (-r[2], r[1])
    ):
        reviewers.setdefault(version, []).append((email, requests))
    return reviewers


def _drift(app, window: Window, versions, tallies) -> dict[str, Drift]:
    """{version: Drift}: requests of the window that retrieved a doc_uri the baseline never retrieved.

    The app's distinct doc_uris are walked through retrieved_doc_app_uri_cover one at a time (a
    loose index scan: a few thousand steps, however many rows each document has); each is looked
    up in the window and in the baseline by index, so only the new documents' rows are read, to
    count their requests and rank them. The requests that retrieved anything come from the
    traffic pass (Request.documents). A baseline that retrieved nothing makes every document new,
    which says nothing: then no new documents are counted and `baseline_empty` says why.
    """
    table = RetrievedDocument._meta.db_table
    before, before_params = _where("b", "created_at", app, window.baseline_since, window.baseline_until)
    retrieving = {
        version: sum(tally.get("retrieving", 0) for tally in by_start.values())
        for version, by_start in tallies.items()
    }
    if not _fetch(f"SELECT 1 FROM {table} b WHERE {before} LIMIT 1", before_params):
        return {version: Drift(n, None, [], baseline_empty=True) for version, n in retrieving.items()}
    seen, seen_params = _where("w", "created_at", app, window.since, window.until, versions)
    rows, rows_params = _where("d", "created_at", app, window.since, window.until, versions)
    sql = (
        "WITH RECURSIVE uris(doc_uri) AS ("
        f"SELECT doc_uri FROM (SELECT doc_uri FROM {table} WHERE app_id = %s ORDER BY doc_uri LIMIT 1) AS first "
        f"UNION ALL SELECT (SELECT n.doc_uri FROM {table} n WHERE n.app_id = %s AND n.doc_uri > uris.doc_uri "
        "ORDER BY n.doc_uri LIMIT 1) FROM uris WHERE uris.doc_uri IS NOT NULL), "
        "new AS (SELECT u.doc_uri AS doc_uri FROM uris u WHERE u.doc_uri IS NOT NULL "
        f"AND EXISTS (SELECT 1 FROM {table} w WHERE {seen} AND w.doc_uri = u.doc_uri) "
        f"AND NOT EXISTS (SELECT 1 FROM {table} b WHERE {before} AND b.doc_uri = u.doc_uri)), "
        "hits AS (SELECT d.app_version AS app_version, d.doc_uri AS doc_uri, d.request_id AS request_id "
        f"FROM new JOIN {table} d ON d.doc_uri = new.doc_uri WHERE {rows}) "
        "SELECT app_version, NULL, COUNT(DISTINCT request_id) FROM hits GROUP BY app_version "
        "UNION ALL SELECT app_version, doc_uri, requests FROM (SELECT app_version, doc_uri, "
        "COUNT(*) AS requests, ROW_NUMBER() OVER (PARTITION BY app_version ORDER BY COUNT(*) DESC, doc_uri) "
        "AS place FROM hits GROUP BY app_version, doc_uri) AS ranked WHERE place <= %s"
    )
    params = [app.pk, app.pk, *seen_params, *before_params, *rows_params, TOP_NEW_DOCUMENTS]
    drift = {version: Drift(n, 0, []) for version, n in retrieving.items()}
    top = []
    for version, doc_uri, n in _fetch(sql, params):
        if doc_uri is None:
            drift.setdefault(version, Drift(0, 0, [])).novel = n
        else:
            top.append((version, doc_uri, n))
    for version, doc_uri, n in sorted(top, key=lambda row: (-row[2], row[1])):
        drift[version].top_new.append((doc_uri, n))
    return drift


# --- from counts to figures ---

COST_PLACES = Decimal("0.000001")


def _figures(tally: dict, latency: tuple | None, prices: tuple) -> Figures:
    def get(name: str) -> int:
        return tally.get(name, 0)

    requests = get("requests")
    cost = None
    if prices != (None, None):
        # A price left blank counts as free: some deployments pay only for one side.
        price_in, price_out = (price or Decimal(0) for price in prices)
        spent = Decimal(get("tokens_request")) * price_in + Decimal(get("tokens_response")) * price_out
        cost = (spent / 1000).quantize(COST_PLACES)
    p50, p95, p99, timed = latency or (None, None, None, 0)
    with_rated = get("with_rated")
    return Figures(
        requests=requests,
        by_source={source: get(f"source_{source}") for source in SOURCES},
        errors=Rate(get("errors"), requests),
        incomplete=Rate(get("incomplete"), requests),
        latency_ms={"p50": p50, "p95": p95, "p99": p99, "n": timed},
        tokens={name: get(f"tokens_{name}") for name in ("request", "response", "total")},
        cost=cost,
        reviewed=Rate(get("reviewed"), requests),
        thumbs_up=Rate(get("up"), get("rated")),
        corrections=Rate(get("corrected"), get("reviewed")),
        missing_sources=Rate(get("missing"), get("reviewed")),
        chunk_precision=Rate(get("relevant_passages"), get("rated_passages")),
        hit_rate=Rate(get("with_relevant"), with_rated),
        mrr=get("reciprocal_ranks") / with_rated if with_rated else None,
        mrr_n=with_rated,
        precision_at_k=Rate(get("relevant_at_k"), get("rated_at_k")),
        judges={
            name.removeprefix(JUDGED): Rate(get(PASSED + name.removeprefix(JUDGED)), count)
            for name, count in sorted(tally.items())
            if name.startswith(JUDGED)
        },
    )


RATES = (
    "errors",
    "incomplete",
    "reviewed",
    "thumbs_up",
    "corrections",
    "missing_sources",
    "chunk_precision",
    "hit_rate",
    "precision_at_k",
)


def _fill_intervals(versions: list[VersionQuality]) -> None:
    """Each rate's value and Wilson interval, in one vectorised call for the whole answer."""
    rates = []
    for version in versions:
        for figures in [version.total, *(f for _start, f in version.series)]:
            rates += [getattr(figures, name) for name in RATES]
            rates += figures.judges.values()
        if version.drift is not None and not version.drift.baseline_empty:
            version.drift.share = Rate(version.drift.novel, version.drift.requests)
            rates.append(version.drift.share)
    for rate, interval in zip(rates, stats.wilson_many([(r.hits, r.total) for r in rates]), strict=True):
        if interval is not None:
            rate.value = rate.hits / rate.total
            rate.low, rate.high = interval


# --- A/B ---


def version_label(version: str) -> str:
    return version or "(no version)"


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def _p(p: float) -> str:
    """ "p = 0.003", "p = 0.41", "p < 0.001": two significant digits, more when rounding would cross alpha."""
    if p < 0.001:
        return "p < 0.001"
    for digits in range(2, 8):
        text = f"{p:.{digits}g}"
        if (float(text) < stats.ALPHA) == (p < stats.ALPHA):
            return f"p = {text}"
    return f"p = {p}"


def compare(a: VersionQuality, b: VersionQuality) -> Comparison:
    """B against A on the thumbs-up rate: a two-sided two-proportion z-test at alpha 0.05."""
    rate_a, rate_b = a.total.thumbs_up, b.total.thumbs_up
    name_a, name_b = version_label(a.version), version_label(b.version)
    undecided = "not distinguishable"
    if not rate_a.total or not rate_b.total:
        nobody = " and ".join(name for name, rate in ((name_b, rate_b), (name_a, rate_a)) if not rate.total)
        sentence = (
            f"{name_b} and {name_a} cannot be compared yet: {nobody} "
            f"{'have' if ' and ' in nobody else 'has'} no rated requests in this range."
        )
        return Comparison(a.version, b.version, None, None, undecided, sentence, None)
    test = stats.two_proportion_test(rate_a.hits, rate_a.total, rate_b.hits, rate_b.total)
    difference = rate_b.value - rate_a.value
    if test.p_value < stats.ALPHA:
        verdict = "better" if difference > 0 else "worse"
        sentence = (
            f"{name_b} is {verdict} than {name_a} "
            f"(thumbs up {_percent(rate_b.value)} vs {_percent(rate_a.value)}, {_p(test.p_value)})."
        )
        return Comparison(a.version, b.version, difference, test.p_value, verdict, sentence, None)
    needed = stats.sample_size_per_group(rate_a.value, rate_b.value)
    if needed is None:
        sentence = (
            f"{name_b} and {name_a} are not distinguishable yet at this sample size ({_p(test.p_value)}); "
            f"both have a thumbs-up rate of {_percent(rate_a.value)} so far."
        )
        return Comparison(a.version, b.version, difference, test.p_value, undecided, sentence, None)
    more = max(needed - min(rate_a.total, rate_b.total), 1)
    sentence = (
        f"{name_b} and {name_a} are not distinguishable yet at this sample size ({_p(test.p_value)}); "
        f"about {more:,} more reviews per version are needed to tell a difference of this size."
    )
    return Comparison(a.version, b.version, difference, test.p_value, undecided, sentence, more)


def version_key(version: str):
    """Numeric versions sort as numbers ("10" after "9"); others after them, by text."""
    parts = version.split(".")
    if all(re.fullmatch(r"[0-9]+", p) for p in parts):  # not isdigit(): "²" is a digit int() refuses
        return (1, tuple(int(p) for p in parts), "")
    return (0, (), version)
