"""Quality over time per app version: the dashboard's and the quality API's figures.

Every figure is an SQL aggregate (PostgreSQL and SQLite): requests from the request log, people's
feedback from each request's summary (feedback.RequestFeedback, FeedbackReason), reviewers from the
assessment log, drift from requestlog.RetrievedDocument. Rates carry the counts behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

BUCKETS = ("hour", "day", "week")
PRECISION_AT = (1, 3, 5)


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
    novel: int  # of them, requests that retrieved a document the baseline never retrieved
    top_new: list[tuple[str, int]]  # (doc_uri, requests) never seen in the baseline, most first


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


def quality(app, window: Window) -> Quality:
    """The figures of `app` over `window`."""
    raise NotImplementedError
