"""Reading the request log: one FilterSet and one keyset pagination, for the screen and the API alike.

A page is one indexed range scan from a cursor, newest first; no COUNT(*) over the table.
A cursor is the (created_at, request_id) of the row at the page's edge, so pages stay stable
while new rows arrive and a deep page costs what the first one does. The query parameters are
`after` (the page of rows older than the cursor) and `before` (the page of newer rows).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime

import django_filters
from django import forms
from django.db.models import QuerySet

from reviewapp.feedback import filters as by_feedback
from reviewapp.feedback.models import Assessment
from reviewapp.lib.filters import EmailFilter, UtcDateTimeFilter

from .models import DOC_URI_BYTES, Request

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
    "load_ms",
    "text_altered",
    "request_tokens",
    "response_tokens",
    "total_tokens",
)
LOCAL_TIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
# Query parameters renamed, still read under their old name (deprecated): old → new.
RENAMED = {"version": "app_version"}
YES_NO = [("yes", "Yes"), ("no", "No")]
# Filters the form does not show: links (the dashboard's) set them, the page shows them as chips.
# The baseline of `novel_since`/`novel_until` is one filter, shown and removed as one.
CHIPS = (
    "verdict",
    "unversioned",
    "corrected",
    "missing_source",
    "retrieval",
    "reason",
    "reviewer",
    "retrieved",
    "timed",
    "doc_uri",
    ("novel_since", "novel_until"),
    ("judge", "judge_said"),
)


class _LogForm(forms.Form):
    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since >= until:
            self.add_error("until", "must be later than From")
        self._clean_baseline(data)
        return data

    def _clean_baseline(self, data) -> None:
        since, until = data.get("novel_since"), data.get("novel_until")
        for given, missing in (("novel_since", "novel_until"), ("novel_until", "novel_since")):
            if data.get(given) and not data.get(missing) and missing not in self.errors:
                self.add_error(missing, f"give it with {given}: together they are the baseline period")
        if since and until and since >= until:
            self.add_error("novel_until", "must be later than novel_since")


def _time_filter(label: str, help_text: str) -> UtcDateTimeFilter:
    # Applied last, by filter_queryset, on the column the page is ordered by.
    return UtcDateTimeFilter(method="filter_time", label=label, widget=LOCAL_TIME, help_text=help_text)


class RequestLogFilter(django_filters.FilterSet):
    """The request log's filters, from the query string. The queryset is one app's requests."""

    since = _time_filter("From (UTC)", "Only rows at or after this time")
    until = _time_filter("Until (UTC)", "Only rows before this time")
    source = django_filters.ChoiceFilter(choices=Request.Source.choices, empty_label="Any")
    status = django_filters.ChoiceFilter(
        choices=Request.Status.choices,
        empty_label="Any",
        help_text="ok, incomplete (the answer stopped part-way) or error",
    )
    # Values are matched as stored: " v1" and "v1" are two versions (and two documents, two reasons).
    app_version = django_filters.CharFilter(
        max_length=100,
        strip=False,
        label="App version",
        help_text="App version (`version` is read as this too; deprecated)",
    )
    feedback = django_filters.ChoiceFilter(
        choices=[("yes", "With feedback"), ("no", "Without feedback")],
        method="filter_feedback",
        empty_label="Any",
        help_text="Has feedback or not",
    )
    rating = django_filters.ChoiceFilter(
        choices=Assessment.Rating.choices,
        method="filter_rating",
        empty_label="Any",
        label="Rating",
        help_text="Some reviewer's effective rating",
    )
    q = django_filters.CharFilter(
        max_length=200,
        method="filter_text",
        label="Text",
        widget=forms.TextInput(attrs={"type": "search"}),
        help_text="Text in the request messages or the response",
    )
    verdict = django_filters.ChoiceFilter(
        choices=by_feedback.VERDICTS,
        method="filter_verdict",
        label="Ratings",
        help_text="The effective ratings together: positive (every one a thumbs up), negative, mixed, "
        "rated (any of these) or unrated (no rating, with or without other feedback)",
    )
    unversioned = django_filters.ChoiceFilter(
        choices=[("yes", "Logged without a version"), ("no", "Logged with a version")],
        method="filter_unversioned",
        label="Version",
        help_text='yes: only requests logged without a version (the "(none)" version; an empty '
        "app_version means any version)",
    )
    corrected = django_filters.ChoiceFilter(
        choices=YES_NO,
        method="filter_corrected",
        label="Corrected",
        help_text="yes: a reviewer in force wrote a corrected response; no: reviewed, without one",
    )
    missing_source = django_filters.ChoiceFilter(
        choices=YES_NO,
        method="filter_missing_source",
        label="Missing source",
        help_text="yes: a reviewer in force added a source that was not retrieved; no: reviewed, none added",
    )
    retrieval = django_filters.ChoiceFilter(
        choices=by_feedback.RETRIEVAL,
        method="filter_retrieval",
        label="Chunk ratings",
        help_text="rated: some passage rated; hit: a passage rated relevant (by more of its ratings than "
        "not); miss: passages rated, none relevant",
    )
    reason = django_filters.CharFilter(
        max_length=200,
        strip=False,
        method="filter_reason",
        label="Reason",
        help_text="A thumbs down in force gives this reason",
    )
    reviewer = EmailFilter(
        max_length=254, method="filter_reviewer", label="Reviewer", help_text="This reviewer gave feedback"
    )
    retrieved = django_filters.ChoiceFilter(
        choices=YES_NO,
        method="filter_retrieved",
        label="Retrieved documents",
        help_text="yes: the request retrieved some document; no: none",
    )
    timed = django_filters.ChoiceFilter(
        choices=YES_NO,
        method="filter_timed",
        label="Timed",
        help_text="yes: the chain's latency was recorded (what the latency percentiles count); no: it was not",
    )
    doc_uri = django_filters.CharFilter(
        # In characters: a URI of up to 1,000 characters of any script finds its rows, stored cut to
        # DOC_URI_BYTES bytes (the lookup cuts it alike).
        max_length=DOC_URI_BYTES,
        strip=False,
        method="filter_doc_uri",
        label="Document",
        help_text="The request retrieved the document with this doc_uri",
    )
    novel_since = UtcDateTimeFilter(
        method="filter_novel",
        label="New documents since (UTC)",
        help_text="With novel_until: requests that retrieved a document no request of the app retrieved "
        "in [novel_since, novel_until) (drift against that baseline)",
    )
    novel_until = UtcDateTimeFilter(
        method="filter_novel",
        label="Baseline until (UTC)",
        help_text="The end of the baseline (see novel_since)",
    )

    judge = django_filters.CharFilter(
        max_length=80,
        method="filter_judge",
        label="Judge",
        help_text="This judge (its current version) judged it",
    )
    judge_said = django_filters.ChoiceFilter(
        choices=[("pass", "pass"), ("fail", "fail"), ("error", "error (no verdict)")],
        method="filter_judge",
        label="Judge said",
        help_text="With judge: what it said",
    )

    class Meta:
        form = _LogForm

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and any(old in data for old in RENAMED):
            data = data.copy()
            for old, new in RENAMED.items():
                values = data.pop(old, None)
                if values is not None and not data.get(new):
                    data[new] = values[-1] if isinstance(values, list) else values
        super().__init__(data, *args, **kwargs)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        # The time range last: a filter that needs a feedback summary pages by the summary's copy
        # of the time (feedback.filters.summarized), and the range must bound that index's walk.
        data = self.form.cleaned_data
        return queryset.between(data.get("since"), data.get("until"))

    def filter_time(self, queryset, name, value):
        return queryset  # applied by filter_queryset

    def filter_feedback(self, queryset, name, value):
        return by_feedback.requests_with_feedback(queryset, present=value == "yes")

    def filter_rating(self, queryset, name, value):
        return by_feedback.requests_rated(queryset, value)

    def filter_text(self, queryset, name, value):
        return queryset.search(value)

    def filter_verdict(self, queryset, name, value):
        return by_feedback.requests_with_verdict(queryset, value)

    def filter_unversioned(self, queryset, name, value):
        return queryset.filter(app_version="") if value == "yes" else queryset.exclude(app_version="")

    def filter_corrected(self, queryset, name, value):
        return by_feedback.requests_counted(queryset, "corrections", present=value == "yes")

    def filter_missing_source(self, queryset, name, value):
        return by_feedback.requests_counted(queryset, "missing_sources", present=value == "yes")

    def filter_retrieval(self, queryset, name, value):
        return by_feedback.requests_by_retrieval(queryset, value)

    def filter_reason(self, queryset, name, value):
        return by_feedback.requests_with_reason(queryset, value)

    def filter_reviewer(self, queryset, name, value):
        return by_feedback.requests_reviewed_by(queryset, value)

    def filter_retrieved(self, queryset, name, value):
        return queryset.retrieved(present=value == "yes")

    def filter_timed(self, queryset, name, value):
        return queryset.filter(latency_ms__isnull=value != "yes")

    def filter_doc_uri(self, queryset, name, value):
        return queryset.retrieved(value)

    def filter_novel(self, queryset, name, value):
        # The form checked that both ends are given; the pair is applied once, at its start.
        if name != "novel_since":
            return queryset
        return queryset.retrieved_novel(value, self.form.cleaned_data["novel_until"])

    def filter_judge(self, queryset, name, value):
        # The pair is applied once, at `judge`; `judge_said` alone selects nothing more.
        if name != "judge":
            return queryset
        from reviewapp.judges.models import requests_said_by, said_by  # here: judges build on the log

        said = self.form.cleaned_data.get("judge_said") or ""
        if queryset.app_pk is None:  # not one app's log: no single judge to page by
            return queryset.filter(said_by(value, said))
        return requests_said_by(queryset, queryset.app_pk, value, said)

    def query(self) -> dict[str, str]:
        """The filters given, as query parameters: to carry them into page links and forms."""
        return {name: self.data[name] for name in self.filters if self.data.get(name)}

    def chips(self) -> list[dict]:
        """The filters given that the form does not show: {"names", "label", "value"} each, the
        value in words where the filter has choices."""
        query = self.query()
        chips = []
        for chip in CHIPS:
            names = chip if isinstance(chip, tuple) else (chip,)
            given = [name for name in names if name in query]
            if not given:
                continue
            words = []
            for name in given:
                choices = dict(self.filters[name].extra.get("choices") or [])
                words.append(str(choices.get(query[name], query[name])))
            label = self.filters[names[0]].label
            chips.append({"names": names, "label": label, "value": " – ".join(words)})
        return chips


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


class CursorField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(required=False, max_length=200, **kwargs)

    def clean(self, value) -> Cursor | None:
        value = super().clean(value)
        if not value:
            return None
        try:
            return Cursor.decode(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


@dataclass
class LogPage:
    rows: list[Request]
    next_cursor: str | None  # pass as `after` for the older rows
    previous_cursor: str | None  # pass as `before` for the newer rows


class PageForm(forms.Form):
    """Which page of the log: the cursor and the size, from the query string (screen and API alike)."""

    after = CursorField(help_text="Cursor: the page of rows older than it")
    before = CursorField(help_text="Cursor: the page of rows newer than it (not with `after`)")
    page_size = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_PAGE_SIZE, help_text=f"default {PAGE_SIZE}"
    )

    def clean(self):
        data = super().clean()
        if data.get("after") and data.get("before"):
            raise forms.ValidationError("give either an `after` or a `before` cursor, not both")
        return data

    def page_of(self, qs: QuerySet[Request]) -> LogPage:
        data = self.cleaned_data
        return page_of(
            qs, older_than=data["after"], newer_than=data["before"], size=data["page_size"] or PAGE_SIZE
        )


def page_of(
    qs: QuerySet[Request],
    *,
    older_than: Cursor | None = None,
    newer_than: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> LogPage:
    """One page, newest first: the rows just older than `older_than`, or just newer than `newer_than`."""
    qs = qs.only(*LIST_FIELDS)
    if newer_than is not None:
        # Walk up from the cursor, oldest first, then show the page newest first.
        rows = list(
            qs.newer_than(newer_than.created_at, newer_than.request_id).order_by(qs.time_field, "request_id")[
                : size + 1
            ]
        )
        more_newer = len(rows) > size
        if not more_newer and len(rows) < size:
            # Back at the top with a short page (rows arrived meanwhile): show a full first page.
            return page_of(qs, size=size)
        rows = list(reversed(rows[:size]))
        return LogPage(
            rows=rows,
            next_cursor=Cursor.of(rows[-1]).encode() if rows else newer_than.encode(),
            previous_cursor=Cursor.of(rows[0]).encode() if rows and more_newer else None,
        )
    if older_than is not None:
        qs = qs.older_than(older_than.created_at, older_than.request_id)
    rows = list(qs.newest_first()[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    return LogPage(
        rows=rows,
        next_cursor=Cursor.of(rows[-1]).encode() if rows and more_older else None,
        # Coming from a newer page means there is one to go back to.
        previous_cursor=Cursor.of(rows[0]).encode() if rows and older_than is not None else None,
    )


def matching_ids(qs: QuerySet[Request], limit: int = MAX_MATCHING) -> list[uuid.UUID]:
    """Ids of up to `limit` matching rows, newest first; ValueError if more match."""
    ids = list(qs.newest_first().values_list("request_id", flat=True)[: limit + 1])
    if len(ids) > limit:
        raise ValueError(f"more than {limit} requests match; narrow the filters and add them in parts")
    return ids
