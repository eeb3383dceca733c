"""Reading the request log: filters and keyset pagination, shared by the screen and the API.

A page is one indexed range scan from a cursor, newest first; no COUNT(*) over the table.
A cursor is the (created_at, request_id) of the row at the page's edge, so pages stay stable
while new rows arrive and a deep page costs what the first one does.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from reviewapp.catalog.models import App

from .models import Request

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# "Add all matching to a queue" takes at most this many requests in one go.
MAX_MATCHING = 10_000
# Columns a list needs; the trace JSON and chunks can be large and are left for the detail page.
LIST_FIELDS = (
    "request_id",
    "app_id",
    "app_version",
    "conversation_id",
    "source",
    "user_id",
    "created_at",
    "messages",
    "response",
    "status",
    "error",
    "mlflow_trace_id",
    "latency_ms",
    "request_tokens",
    "response_tokens",
    "total_tokens",
)


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    request_id: uuid.UUID

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.request_id.hex}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """ValueError when `text` is not a cursor this module made."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            when, request_id = raw.split("|")
            created_at = datetime.fromisoformat(when)
            if created_at.tzinfo is None:
                raise ValueError("no time zone")
            return cls(created_at, uuid.UUID(request_id))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError("not a valid page cursor") from exc

    @classmethod
    def of(cls, request: Request) -> Cursor:
        return cls(request.created_at, request.request_id)


@dataclass(frozen=True)
class LogFilters:
    since: datetime | None = None
    until: datetime | None = None
    source: str = ""
    app_version: str = ""
    # None: either; True: with at least one assessment; False: none yet.
    has_feedback: bool | None = None
    # "positive" / "negative": some reviewer's effective (latest) rating.
    rating: str = ""
    text: str = ""

    def is_empty(self) -> bool:
        return self == LogFilters()


@dataclass
class LogPage:
    rows: list[Request]
    next_cursor: str | None
    previous_cursor: str | None


def filter_requests(app: App, filters: LogFilters) -> QuerySet[Request]:
    qs = Request.objects.for_app(app)
    if filters.since:
        qs = qs.filter(created_at__gte=filters.since)
    if filters.until:
        qs = qs.filter(created_at__lt=filters.until)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.app_version:
        qs = qs.filter(app_version=filters.app_version)
    if filters.has_feedback is not None:
        qs = qs.with_feedback(filters.has_feedback)
    if filters.rating:
        qs = qs.with_effective_rating(filters.rating)
    if filters.text:
        qs = qs.search(filters.text)
    return qs


def page_of(
    qs: QuerySet[Request],
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> LogPage:
    """One page newest first: older than `after` (next page), or newer than `before` (previous)."""
    qs = qs.only(*LIST_FIELDS).select_related(None)
    if before is not None:
        # Walk up from the cursor, oldest first, then show the page newest first.
        rows = list(
            qs.after(before.created_at, before.request_id).order_by("created_at", "request_id")[: size + 1]
        )
        more_newer = len(rows) > size
        if not more_newer and len(rows) < size:
            # Back at the top with a short page (rows arrived meanwhile): show a full first page.
            return page_of(qs, size=size)
        rows = list(reversed(rows[:size]))
        return LogPage(
            rows=rows,
            next_cursor=Cursor.of(rows[-1]).encode() if rows else before.encode(),
            previous_cursor=Cursor.of(rows[0]).encode() if rows and more_newer else None,
        )
    if after is not None:
        qs = qs.before(after.created_at, after.request_id)
    rows = list(qs.newest_first()[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    return LogPage(
        rows=rows,
        next_cursor=Cursor.of(rows[-1]).encode() if rows and more_older else None,
        # Coming from a newer page means there is one to go back to.
        previous_cursor=Cursor.of(rows[0]).encode() if rows and after is not None else None,
    )


def matching_ids(qs: QuerySet[Request], limit: int = MAX_MATCHING) -> list[uuid.UUID]:
    """Ids of up to `limit` matching rows, newest first; ValueError if more match."""
    ids = list(qs.newest_first().values_list("request_id", flat=True)[: limit + 1])
    if len(ids) > limit:
        raise ValueError(f"more than {limit} requests match; narrow the filters and add them in parts")
    return ids


def feedback_summary(rows: list[Request]) -> dict[uuid.UUID, dict]:
    """Per request on the page: how many reviewers' effective ratings are up, down, or none."""
    from reviewapp.feedback.models import Assessment

    summary: dict[uuid.UUID, dict] = {}
    effective = (
        Assessment.objects.filter(request_id__in=[row.request_id for row in rows])
        .effective()
        .values_list("request_id", "rating")
    )
    for request_id, rating in effective:
        counts = summary.setdefault(request_id, {"positive": 0, "negative": 0, "reviewers": 0})
        counts["reviewers"] += 1
        if rating in ("positive", "negative"):
            counts[rating] += 1
    return summary
