"""Filters by feedback: the request log's (which requests have feedback, and which ratings are in
force) and the assessment log's FilterSet, shared by every list that needs them."""

import django_filters
from django.db.models import Exists, OuterRef, QuerySet

from reviewapp.lib.filters import EmailFilter, StrictBooleanFilter, UtcDateTimeFilter
from reviewapp.requestlog.models import Request

from .models import Assessment


def requests_with_feedback(requests: QuerySet[Request], present: bool = True) -> QuerySet[Request]:
    """Requests with at least one assessment (`present`), or with none yet."""
    exists = Exists(Assessment.objects.filter(request_id=OuterRef("pk")))
    return requests.filter(exists if present else ~exists)


def requests_rated(requests: QuerySet[Request], rating: str) -> QuerySet[Request]:
    """Requests where some reviewer's effective (latest) assessment has this rating."""
    in_force = Assessment.objects.filter(request_id=OuterRef("pk"), rating=rating).latest_per_reviewer()
    return requests.filter(Exists(in_force))


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
