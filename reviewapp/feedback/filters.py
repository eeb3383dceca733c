"""Filters by feedback: the request log's (read from each request's summary, RequestFeedback and
FeedbackReason, so a filter costs an index lookup per request whatever the size of the assessment log)
and the assessment log's FilterSet, shared by every list that needs them."""

import django_filters
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from reviewapp.accounts.models import User
from reviewapp.lib.filters import EmailFilter, StrictBooleanFilter, UtcDateTimeFilter
from reviewapp.requestlog.models import Request

from . import summary
from .models import Assessment, RequestFeedback

Verdict = RequestFeedback.Verdict
RATED = (Verdict.POSITIVE, Verdict.NEGATIVE, Verdict.MIXED)
# The request log's `verdict` values: a summary's verdict, or any of them, or none.
VERDICTS = [
    (Verdict.POSITIVE.value, "Every rating a thumbs up"),
    (Verdict.NEGATIVE.value, "Every rating a thumbs down"),
    (Verdict.MIXED.value, "Thumbs up and down"),
    ("rated", "Rated"),
    ("unrated", "Not rated"),
]
RETRIEVAL = [
    ("rated", "Some passage rated"),
    ("hit", "A relevant passage"),
    ("miss", "Passages rated, none relevant"),
]
_SUMMARY = "feedback_summary__"
_REVIEWED = Q(feedback_summary__reviewers__gt=0)


def summarized(requests: QuerySet[Request]) -> QuerySet[Request]:
    """Only requests with a summary (every request with feedback has one), paged by the summary's
    copy of their time: a page is then a walk of the app's summaries in time order (fbsum_app_time),
    not of all its requests, most of which have no feedback. The summary's app is the request's,
    said here so that index's app column is bound too."""
    summary.catch_up()  # feedback recorded since the last sum
    return requests.filter(feedback_summary__app_id=F("app_id")).timed_by(f"{_SUMMARY}request_created_at")


def requests_with_feedback(requests: QuerySet[Request], present: bool = True) -> QuerySet[Request]:
    """Requests with at least one assessment (`present`), or with none yet."""
    if present:
        return summarized(requests).filter(_REVIEWED)
    summary.catch_up()
    # NOT EXISTS, not a left join's IS NULL: the planner counts the rows that match as such.
    reviewed = RequestFeedback.objects.filter(request_id=OuterRef("pk"), reviewers__gt=0)
    return requests.filter(~Exists(reviewed))


def requests_rated(requests: QuerySet[Request], rating: str) -> QuerySet[Request]:
    """Requests where some reviewer's effective (latest) assessment has this rating."""
    count = {Assessment.Rating.POSITIVE: "up", Assessment.Rating.NEGATIVE: "down"}[rating]
    return summarized(requests).filter(**{f"{_SUMMARY}{count}__gt": 0})


def requests_with_verdict(requests: QuerySet[Request], verdict: str) -> QuerySet[Request]:
    """By the effective ratings together (VERDICTS); `unrated` includes requests without feedback."""
    if verdict == "rated":
        return summarized(requests).filter(feedback_summary__verdict__in=RATED)
    if verdict == "unrated":
        summary.catch_up()
        rated = RequestFeedback.objects.filter(request_id=OuterRef("pk"), verdict__in=RATED)
        return requests.filter(~Exists(rated))
    return summarized(requests).filter(feedback_summary__verdict=verdict)


def requests_counted(requests: QuerySet[Request], count: str, present: bool) -> QuerySet[Request]:
    """Reviewed requests where some reviewer in force gave a `count` ("corrections" or
    "missing_sources"), or none did (`present` False): together, the rate's denominator."""
    some = Q(**{f"{_SUMMARY}{count}__gt": 0})
    return summarized(requests).filter(some if present else _REVIEWED & ~some)


def requests_by_retrieval(requests: QuerySet[Request], outcome: str) -> QuerySet[Request]:
    """By people's chunk ratings (RETRIEVAL): the hit rate's denominator, hits and misses."""
    rated = Q(feedback_summary__passages_rated__gt=0)
    if outcome == "hit":
        return summarized(requests).filter(feedback_summary__passages_relevant__gt=0)
    if outcome == "miss":
        return summarized(requests).filter(rated, feedback_summary__passages_relevant=0)
    return summarized(requests).filter(rated)


def requests_with_reason(requests: QuerySet[Request], reason: str) -> QuerySet[Request]:
    """Requests where a thumbs down in force gives `reason`, paged by that FeedbackReason row's copy
    of the time (at most one row per request and reason): a page walks the app's reasons in time
    order (fbreason_app_time). Through the summary the planner misjudged how many requests match
    and sorted them all."""
    summary.catch_up()  # feedback recorded since the last sum
    # One join: the alias names its time, so the cursor's and the range's bounds reuse that join
    # rather than add one per filter (a request may have several reasons).
    given = requests.filter(feedback_reasons__reason=reason, feedback_reasons__app_id=F("app_id"))
    return given.alias(reason_time=F("feedback_reasons__request_created_at")).timed_by("reason_time")


def requests_reviewed_by(requests: QuerySet[Request], email: str) -> QuerySet[Request]:
    """Requests on which the reviewer with this email gave feedback (such a request has a summary)."""
    # Their id first (one small query): against a constant the planner knows from its statistics
    # how many requests they reviewed, and walks the summaries in time order when that is many
    # rather than sorting them all.
    reviewers = list(User.objects.filter(email__iexact=email).values_list("pk", flat=True))
    if not reviewers:
        return requests.none()
    given = Assessment.objects.filter(request_id=OuterRef("pk"), reviewer_id__in=reviewers)
    return summarized(requests).filter(Exists(given))


NO_RATING = "none"


class AssessmentFilter(django_filters.FilterSet):
    """The assessment log's filters (the API's query parameters). The queryset must carry
    `is_effective` (Assessment.objects.with_is_effective())."""

    since = UtcDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="assessments made at or after"
    )
    until = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt", help_text="assessments made before")
    source = django_filters.ChoiceFilter(
        field_name="request__source", choices=Request.Source.choices, help_text="where the request came from"
    )
    app_version = django_filters.CharFilter(max_length=100, help_text="the app version that answered")
    rating = django_filters.ChoiceFilter(
        choices=[*Assessment.Rating.choices, (NO_RATING, "No rating")],
        method="filter_rating",
        help_text="`none`: assessments without a thumbs up or down",
    )
    reviewer = EmailFilter(
        field_name="reviewer__email", lookup_expr="iexact", max_length=254, help_text="the reviewer's email"
    )
    request_id = django_filters.UUIDFilter(help_text="assessments of this request")
    effective = StrictBooleanFilter(
        field_name="is_effective",
        help_text="true: only each reviewer's latest row; false: only earlier rows; absent: all rows",
    )

    def filter_rating(self, queryset, name, value):
        return queryset.filter(rating="" if value == NO_RATING else value)
