"""Which reviewed requests a curation (filters + picked ids) selects, and their effective feedback.

Everything here returns querysets or generators: exports stream rows over a server-side cursor
(`.iterator(chunk_size=...)`), never holding all of them at once.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Coalesce

from reviewapp.catalog.models import App
from reviewapp.feedback.models import Assessment
from reviewapp.feedback.services import FIELDS as FEEDBACK_FIELDS
from reviewapp.requestlog.models import Request, last_user_message

AGREEMENT_CHOICES = ("all_agree", "disagree")
CHUNK_SIZE = 2000


@dataclass(frozen=True)
class Filters:
    """The curation screen's filters; an empty value means "any"."""

    rating: str = ""  # positive | negative: some reviewer rated it so
    reasons: tuple[str, ...] = ()  # some reviewer gave one of these reasons
    has_correction: bool | None = None
    has_chunk_ratings: bool | None = None
    reviewer: str = ""  # email
    app_version: str = ""
    queue: int | None = None
    agreement: str = ""  # all_agree | disagree (on the rating)
    since: datetime | None = None  # the request's time
    until: datetime | None = None
    request_ids: tuple[str, ...] = ()  # picked by hand; empty = all that match

    def as_dict(self) -> dict:
        out = {}
        for key, value in self.__dict__.items():
            if value in ("", (), None):
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "Filters":
        data = dict(data or {})
        for key in ("since", "until"):
            if isinstance(data.get(key), str):
                data[key] = datetime.fromisoformat(data[key])
        for key in ("reasons", "request_ids"):
            data[key] = tuple(str(v) for v in data.get(key) or ())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def effective_assessments(app: App) -> QuerySet:
    return Assessment.objects.filter(app=app).effective()


def _rating_count(rating: str):
    sub = (
        effective_assessments_for_outer()
        .filter(rating=rating)
        .order_by()
        .values("request_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(sub), 0)


def effective_assessments_for_outer() -> QuerySet:
    return Assessment.objects.filter(request_id=OuterRef("request_id")).effective()


def curated_requests(*, app: App, filters: Filters) -> QuerySet:
    """Reviewed requests of `app` that match `filters`, oldest first (a stable export order)."""
    assessments = effective_assessments(app)
    if filters.rating:
        assessments = assessments.filter(rating=filters.rating)
    if filters.reasons:
        reason_q = Q()
        for reason in filters.reasons:
            reason_q |= Q(reasons__contains=[reason]) if _json_contains_ok() else Q(reasons__icontains=reason)
        assessments = assessments.filter(reason_q)
    if filters.has_correction is not None:
        with_correction = Q(corrected_response__isnull=False) & ~Q(corrected_response="")
        assessments = assessments.filter(with_correction if filters.has_correction else ~with_correction)
    if filters.has_chunk_ratings is not None:
        rated = ~Q(retrieval_assessments=[])
        assessments = assessments.filter(rated if filters.has_chunk_ratings else ~rated)
    if filters.reviewer:
        assessments = assessments.filter(reviewer__email__iexact=filters.reviewer)
    if filters.queue:
        assessments = assessments.filter(queue_id=filters.queue)
    requests = Request.objects.filter(app=app, request_id__in=assessments.values("request_id")).filter(
        **_request_lookups(filters)
    )
    if filters.agreement:
        requests = requests.annotate(n_pos=_rating_count("positive"), n_neg=_rating_count("negative"))
        disagree = Q(n_pos__gt=0, n_neg__gt=0)
        requests = (
            requests.filter(disagree) if filters.agreement == "disagree" else requests.exclude(disagree)
        )
    return requests.order_by("created_at", "request_id")


def _filters_on_assessments(filters: Filters) -> bool:
    return bool(
        filters.rating
        or filters.reasons
        or filters.has_correction is not None
        or filters.has_chunk_ratings is not None
        or filters.reviewer
        or filters.queue
        or filters.agreement
    )


def _request_lookups(filters: Filters, prefix: str = "") -> dict:
    lookups = {}
    if filters.app_version:
        lookups[f"{prefix}app_version"] = filters.app_version
    if filters.since:
        lookups[f"{prefix}created_at__gte"] = filters.since
    if filters.until:
        lookups[f"{prefix}created_at__lte"] = filters.until
    if filters.request_ids:
        lookups[f"{prefix}request_id__in"] = list(filters.request_ids)
    return lookups


def _json_contains_ok() -> bool:
    # JSON containment exists on PostgreSQL; SQLite has no `contains` lookup for JSONField.
    from django.db import connection

    return connection.vendor == "postgresql"


@dataclass
class Reviewed:
    """One request with every reviewer's effective feedback, as the row builders need it."""

    request_id: str
    conversation_id: str
    messages: list
    response: str
    chunks: list
    app_version: str
    created_at: datetime
    mlflow_trace_id: str
    assessments: list[dict] = field(default_factory=list)  # oldest first
    judge_results: list = field(default_factory=list)  # imported LLM-judge assessments on the trace

    @property
    def request_text(self) -> str:
        return last_user_message(self.messages)


# Ordered by time in SQL; the assessment's own timestamp is not needed in Python (parsing
# datetimes is a measurable share of a 100,000-row export).
ASSESSMENT_FIELDS = (
    "request_id",
    "id",
    *FEEDBACK_FIELDS,
    "app_version",
    "instructions_version",
    "source_id",
)
REQUEST_FIELDS = {
    "req_conversation_id": "request__conversation_id",
    "req_messages": "request__messages",
    "req_response": "request__response",
    "req_chunks": "request__chunks",
    "req_app_version": "request__app_version",
    "req_created_at": "request__created_at",
    "req_trace_id": "request__mlflow_trace_id",
}


def iter_reviewed(
    *, app: App, filters: Filters, chunk_size: int = CHUNK_SIZE, with_judge_results: bool = False
) -> Iterator[Reviewed]:
    """Each selected request once, with its effective assessments, streamed in request order."""
    fields = {alias: F(path) for alias, path in REQUEST_FIELDS.items()}
    if with_judge_results:
        fields["req_judges"] = KeyTransform("assessments", KeyTransform("info", "request__trace"))
    rows = effective_assessments(app)
    if _filters_on_assessments(filters):
        rows = rows.filter(request_id__in=curated_requests(app=app, filters=filters).values("request_id"))
    else:
        # Only request-level filters: join them directly instead of a second pass over the feedback.
        rows = rows.filter(**_request_lookups(filters, prefix="request__"))
    rows = (
        rows.order_by("request__created_at", "request_id", "created_at", "id")
        .values(*ASSESSMENT_FIELDS, **fields)
        .iterator(chunk_size=chunk_size)
    )
    for request_id, group in groupby(rows, key=lambda row: row["request_id"]):
        group = list(group)
        first = group[0]
        yield Reviewed(
            request_id=str(request_id),
            conversation_id=first["req_conversation_id"],
            messages=first["req_messages"] or [],
            response=first["req_response"] or "",
            chunks=first["req_chunks"] or [],
            app_version=first["req_app_version"] or "",
            created_at=first["req_created_at"],
            mlflow_trace_id=first["req_trace_id"] or "",
            assessments=group,
            judge_results=(first.get("req_judges") or []) if with_judge_results else [],
        )
