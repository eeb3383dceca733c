"""Which reviewed requests a curation (filters + picked ids) selects, and their effective feedback.

The filters are one FilterSet (CurationFilter): the curation screen reads them from the query string;
an export job, from the `Filters` it was started with. Everything here returns querysets or generators:
exports stream rows over a server-side cursor (`.iterator(chunk_size=...)`), never holding all at once.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from itertools import groupby
from operator import itemgetter

import django_filters
from django import forms
from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Cast

from reviewapp.catalog.models import App
from reviewapp.feedback.filters import requests_rated
from reviewapp.feedback.models import Assessment
from reviewapp.feedback.services import FIELDS as FEEDBACK_FIELDS
from reviewapp.judges.models import said_by
from reviewapp.lib.filters import UtcDateTimeFilter
from reviewapp.requestlog import passages as passage_rules
from reviewapp.requestlog.models import Request, last_user_message

AGREEMENT_CHOICES = ("all_agree", "disagree")
CHUNK_SIZE = 2000
# Filters on the request alone: every effective assessment of a request they select is selected.
REQUEST_FILTERS = ("app_version", "status", "agreement", "since", "until")


@dataclass(frozen=True)
class Filters:
    """A curation: the filters (an empty value means "any") and the requests picked by hand."""

    rating: str = ""  # positive | negative: some reviewer rated it so
    reasons: tuple[str, ...] = ()  # some reviewer gave one of these reasons
    has_correction: bool | None = None
    has_chunk_ratings: bool | None = None
    reviewer: str = ""  # email
    app_version: str = ""
    status: str = ""  # the request's: ok | incomplete | error
    queue: int | None = None
    agreement: str = ""  # all_agree | disagree (on the rating)
    since: datetime | None = None  # the request's time
    until: datetime | None = None
    judge: str = ""  # the current version of this judge judged it...
    judge_said: str = ""  # ...and said this (pass | fail | error)
    request_ids: tuple[str, ...] = ()  # picked by hand; empty = all that match

    def filter_values(self) -> dict:
        """The filters given (not the picked ids), as CurationFilter's form would clean them."""
        return {
            name: value
            for name, value in self.__dict__.items()
            if name != "request_ids" and value not in ("", (), None)
        }

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
    def from_input(cls, filters: dict, request_ids) -> "Filters":
        """From an API body's checked `filters` and `request_ids` (exports.serializers.SelectionInput)."""
        return cls(
            **{**filters, "reasons": tuple(filters.get("reasons", ()))},
            request_ids=tuple(str(r) for r in request_ids),
        )

    @classmethod
    def from_dict(cls, data: dict) -> "Filters":
        data = dict(data or {})
        for key in ("since", "until"):
            if isinstance(data.get(key), str):
                data[key] = datetime.fromisoformat(data[key])
        for key in ("reasons", "request_ids"):
            data[key] = tuple(str(v) for v in data.get(key) or ())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class YesNoFilter(django_filters.Filter):
    """Any / yes / no, cleaned to None / True / False."""

    field_class = forms.TypedChoiceField

    def __init__(self, **kwargs):
        choices = [("", "Any"), ("yes", "Yes"), ("no", "No")]
        super().__init__(choices=choices, coerce=_is_yes, empty_value=None, **kwargs)


def _is_yes(value: str) -> bool:
    return value == "yes"


LOCAL_TIME = forms.DateTimeInput(attrs={"type": "datetime-local"})


class CurationFilter(django_filters.FilterSet):
    """The curation filters, over the effective assessments of one app: a request is selected when
    one of its reviewers' effective assessments matches them all."""

    rating = django_filters.ChoiceFilter(choices=Assessment.Rating.choices, empty_label="Any", label="Rating")
    reasons = django_filters.MultipleChoiceFilter(
        method="filter_reasons", label="Reasons", widget=forms.SelectMultiple(attrs={"size": 4})
    )
    has_correction = YesNoFilter(method="filter_has_correction", label="Has a correction")
    has_chunk_ratings = YesNoFilter(method="filter_has_chunk_ratings", label="Has chunk ratings")
    reviewer = django_filters.ChoiceFilter(
        field_name="reviewer__email", lookup_expr="iexact", empty_label="Anyone", label="Reviewer"
    )
    app_version = django_filters.ChoiceFilter(
        field_name="request__app_version", empty_label="Any", label="App version"
    )
    status = django_filters.ChoiceFilter(
        field_name="request__status", choices=Request.Status.choices, empty_label="Any", label="Answer status"
    )
    queue = django_filters.ChoiceFilter(field_name="queue_id", empty_label="Any", label="Queue")
    agreement = django_filters.ChoiceFilter(
        choices=[("all_agree", "All agree"), ("disagree", "Reviewers disagree")],
        method="filter_agreement",
        empty_label="Any",
        label="Agreement",
    )
    since = UtcDateTimeFilter(
        field_name="request__created_at", lookup_expr="gte", label="From", widget=LOCAL_TIME
    )
    until = UtcDateTimeFilter(
        field_name="request__created_at", lookup_expr="lte", label="Until", widget=LOCAL_TIME
    )
    judge = django_filters.ChoiceFilter(method="filter_judge", empty_label="Any", label="Judge")
    judge_said = django_filters.ChoiceFilter(
        choices=[("pass", "pass"), ("fail", "fail"), ("error", "error (no verdict)")],
        method="filter_judge",
        empty_label="Anything",
        label="Judge said",
    )

    def __init__(self, data=None, *, app: App, **kwargs):
        super().__init__(data, queryset=effective_assessments(app), **kwargs)
        # What the screen offers: this app's reasons, reviewers, versions and queues.
        self.filters["reasons"].extra["choices"] = [(r, r) for r in app.reasons or []]
        reviewers = (
            Assessment.objects.filter(app=app)
            .order_by("source_id")
            .values_list("source_id", flat=True)
            .distinct()
        )
        self.filters["reviewer"].extra["choices"] = lambda: [(r, r) for r in reviewers]
        versions = app.requests.order_by("app_version").values_list("app_version", flat=True).distinct()
        self.filters["app_version"].extra["choices"] = lambda: [(v, v) for v in versions if v]
        self.filters["queue"].extra["choices"] = lambda: [(str(q.pk), q.name) for q in app.queues.all()]
        self.filters["judge"].extra["choices"] = lambda: [
            (name, name) for name in app.judges.live().values_list("name", flat=True)
        ]

    def filter_reasons(self, queryset, name, value):
        reason_q = Q()
        for reason in value:
            # JSON containment exists on PostgreSQL; SQLite has no `contains` lookup for JSONField.
            reason_q |= (
                Q(reasons__contains=[reason])
                if connection.vendor == "postgresql"
                else Q(reasons__icontains=reason)
            )
        return queryset.filter(reason_q)

    def filter_has_correction(self, queryset, name, value):
        with_correction = Q(corrected_response__isnull=False) & ~Q(corrected_response="")
        return queryset.filter(with_correction if value else ~with_correction)

    def filter_has_chunk_ratings(self, queryset, name, value):
        rated = ~Q(retrieval_assessments=[])
        return queryset.filter(rated if value else ~rated)

    def filter_judge(self, queryset, name, value):
        # The pair is applied once, at `judge`; `judge_said` alone selects nothing more.
        if name != "judge":
            return queryset
        # From `apply` (an export's Filters), or from the screen's form.
        said = self._said or getattr(self.form, "cleaned_data", {}).get("judge_said", "")
        return queryset.filter(said_by(value, said, request="request_id"))

    def filter_agreement(self, queryset, name, value):
        # Reviewers disagree where one's effective rating is positive and another's negative.
        request = Request.objects.filter(pk=OuterRef("request_id"))
        disagree = Exists(requests_rated(requests_rated(request, "positive"), "negative"))
        return queryset.filter(disagree if value == "disagree" else ~disagree)

    def selection(self, request_ids=()) -> Filters:
        """The filters the form read (it must be valid), with the requests picked by hand."""
        data = {name: value for name, value in self.form.cleaned_data.items() if value not in ("", [], None)}
        if "reasons" in data:
            data["reasons"] = tuple(data["reasons"])
        if "queue" in data:
            data["queue"] = int(data["queue"])
        return Filters(**data, request_ids=tuple(str(r) for r in request_ids))

    _said = ""

    def apply(self, filters: Filters) -> QuerySet:
        """The effective assessments that match `filters`, each filtered as the screen filters it."""
        self._said = filters.judge_said
        rows = self.queryset
        for name, value in filters.filter_values().items():
            rows = self.filters[name].filter(rows, value)
        if filters.request_ids:
            rows = rows.filter(request_id__in=list(filters.request_ids))
        return rows


def effective_assessments(app: App) -> QuerySet:
    return Assessment.objects.filter(app=app).latest_per_reviewer()


def _matching(app: App, filters: Filters) -> QuerySet:
    return CurationFilter(app=app).apply(filters)


def curated_requests(*, app: App, filters: Filters) -> QuerySet:
    """Reviewed requests of `app` that match `filters`, oldest first (a stable export order)."""
    matching = _matching(app, filters).values("request_id")
    return Request.objects.filter(app=app, request_id__in=matching).order_by("created_at", "request_id")


@dataclass
class Reviewed:
    """One request with every reviewer's effective feedback, as the row builders need it."""

    request_id: str
    conversation_id: str
    messages: list
    response: str
    chunks: list
    app_version: str
    mlflow_trace_id: str
    assessments: list[dict] = field(default_factory=list)  # oldest first
    judge_results: list = field(default_factory=list)  # imported LLM-judge assessments on the trace
    status: str = Request.Status.OK  # incomplete: `response` is the part that came
    context_span: str = ""  # the app's choice of what the model saw (requestlog.passages)
    # The adjudicator's final label ({"rating", "relevant", "corrected_response", "note"}), if any.
    adjudication: dict | None = None
    # The request's time. Streams (iter_reviewed) leave it out: they are ordered by it in SQL, and
    # parsing a datetime per row is a measurable share of a 100,000-row export.
    created_at: datetime | None = None
    # {reviewer email: vote weight} for the reliability-weighted rule (None: not asked for).
    weights: dict[str, float] | None = None

    @property
    def request_text(self) -> str:
        return last_user_message(self.messages)

    @property
    def complete(self) -> bool:
        return self.status == Request.Status.OK

    @cached_property
    def passages(self) -> list[dict]:
        """What the model saw, duplicates merged: the chunks ratings and exports refer to."""
        return passage_rules.passages(self.chunks, self.context_span)

    @cached_property
    def passage_positions(self) -> dict[int, int]:
        return passage_rules.passage_positions(self.chunks, merged=self.passages)

    def ratings(self, retrieval_assessments: list[dict] | None) -> dict[int, dict]:
        """One assessment's chunk ratings by passage position (the passages worked out once per request)."""
        return passage_rules.ratings(
            retrieval_assessments, self.chunks, self.context_span, positions=self.passage_positions
        )


# An assessment's columns, each row of `Reviewed.assessments` a dict of them. JSON comes as text,
# decoded here: Django's converter costs more than the decoding of a "[]".
ASSESSMENT_FIELDS = (
    "request_id",
    "id",
    *FEEDBACK_FIELDS,
    "app_version",
    "instructions_version",
    "source_id",
)
JSON_FIELDS = ("reasons", "retrieval_assessments", "missing_sources")
# The request's columns, repeated on each of its assessments' rows but read (and their JSON
# decoded) once per request.
REQUEST_FIELDS = {
    "req_conversation_id": F("request__conversation_id"),
    "req_messages": Cast("request__messages", TextField()),
    "req_response": F("request__response"),
    "req_chunks": Cast("request__chunks", TextField()),
    "req_app_version": F("request__app_version"),
    "req_status": F("request__status"),
    "req_mlflow_trace_id": F("request__mlflow_trace_id"),
    # The request's adjudication (at most one: a left join), read with the selection.
    "req_adjudication_id": F("request__adjudication__id"),
    "req_adjudication_rating": F("request__adjudication__rating"),
    "req_adjudication_relevant": Cast("request__adjudication__relevant", TextField()),
    "req_adjudication_correction": F("request__adjudication__corrected_response"),
    "req_adjudication_note": F("request__adjudication__note"),
}
ROW_ORDER = ("request__created_at", "request_id", "created_at", "id")
# Only SQLite's pages read the order's times back (the next page starts after the last key).
PAGE_KEY = {"page_request_time": F("request__created_at"), "page_row_time": F("created_at")}


def reviewed_rows(*, app: App, filters: Filters, with_judge_results: bool = False) -> QuerySet:
    """The rows iter_reviewed reads: each selected effective assessment with its request's columns,
    as tuples (ASSESSMENT_FIELDS, then the request's), in request order."""
    if set(filters.filter_values()) - set(REQUEST_FILTERS):
        # Some filter picks among a request's assessments: take all of each selected request's.
        matching = _matching(app, filters).values("request_id")
        rows = effective_assessments(app).filter(request_id__in=matching)
    else:
        # Only filters on the request: its assessments are all selected, in one pass.
        rows = _matching(app, filters)
    own = {f"own_{name}": Cast(name, TextField()) for name in JSON_FIELDS}
    columns = dict(REQUEST_FIELDS)
    if with_judge_results:
        columns["req_judges"] = KeyTransform("assessments", KeyTransform("info", "request__trace"))
    if connection.vendor == "sqlite":
        columns.update(PAGE_KEY)
    names = [f"own_{name}" if name in JSON_FIELDS else name for name in ASSESSMENT_FIELDS]
    return rows.order_by(*ROW_ORDER).annotate(**own, **columns).values_list(*names, *columns)


def _in_pages(rows: QuerySet, size: int) -> Iterator[tuple]:
    """`rows` (reviewed_rows: ordered by ROW_ORDER, ending with PAGE_KEY) a page at a time, each
    fetched whole before it is handed out.

    SQLite: a read left open while the caller writes (progress, the job's heartbeat) would make
    that write fail with "database is locked" once another connection has written meanwhile, as
    the web does all the time. PostgreSQL streams over a server-side cursor instead.
    """
    request_id, row_id = ASSESSMENT_FIELDS.index("request_id"), ASSESSMENT_FIELDS.index("id")
    after = Q()
    while True:
        page = list(rows.filter(after)[:size])
        yield from page
        if len(page) < size:
            return
        last = page[-1]
        key = (last[-2], last[request_id], last[-1], last[row_id])
        after = Q()
        for i, name in enumerate(ROW_ORDER):
            after |= Q(**{f"{name}__gt": key[i]}, **dict(zip(ROW_ORDER[:i], key[:i], strict=True)))


def _json(text: str | None):
    if text == "[]":  # most lists of reasons, ratings and sources
        return []
    return None if text is None else json.loads(text)


def _assessment(row: tuple) -> dict:
    # zip stops at the assessment's own columns, the first of the row.
    assessment = dict(zip(ASSESSMENT_FIELDS, row, strict=False))
    for name in JSON_FIELDS:
        assessment[name] = _json(assessment[name])
    return assessment


def _adjudication(row: tuple, at: dict) -> dict | None:
    if row[at["req_adjudication_id"]] is None:
        return None
    return {
        "rating": row[at["req_adjudication_rating"]],
        "relevant": _json(row[at["req_adjudication_relevant"]]) or {},
        "corrected_response": row[at["req_adjudication_correction"]],
        "note": row[at["req_adjudication_note"]],
    }


def iter_reviewed(
    *,
    app: App,
    filters: Filters,
    chunk_size: int = CHUNK_SIZE,
    with_judge_results: bool = False,
    weights: dict[str, float] | None = None,
) -> Iterator[Reviewed]:
    """Each selected request once, with its effective assessments, streamed in request order."""
    rows = reviewed_rows(app=app, filters=filters, with_judge_results=with_judge_results)
    if connection.vendor == "sqlite":
        rows = _in_pages(rows, chunk_size)
    else:
        rows = rows.iterator(chunk_size=chunk_size)
    at = {name: len(ASSESSMENT_FIELDS) + i for i, name in enumerate(REQUEST_FIELDS)}
    judges = len(ASSESSMENT_FIELDS) + len(REQUEST_FIELDS)
    context_span = app.context_span
    for request_id, group in groupby(rows, key=itemgetter(0)):
        first, *others = group
        yield Reviewed(
            request_id=str(request_id),
            conversation_id=first[at["req_conversation_id"]],
            messages=_json(first[at["req_messages"]]) or [],
            response=first[at["req_response"]] or "",
            chunks=_json(first[at["req_chunks"]]) or [],
            app_version=first[at["req_app_version"]] or "",
            mlflow_trace_id=first[at["req_mlflow_trace_id"]] or "",
            assessments=[_assessment(first), *map(_assessment, others)],
            judge_results=(first[judges] or []) if with_judge_results else [],
            status=first[at["req_status"]],
            context_span=context_span,
            adjudication=_adjudication(first, at),
            weights=weights,
        )
