"""The quality API's query string (read into a quality.Window) and its answer (quality.Quality as JSON).

The answer is built by `quality_json`, plain dicts: an answer may hold 12 versions x 2,000 buckets,
too many for DRF's per-field serializers. The Output serializers below document that shape in the
OpenAPI schema, and tests/monitoring/test_quality_api.py holds every answer to it.
"""

import re
from datetime import UTC, date, datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from reviewapp.lib.serializers import StrictSerializer

from .quality import (
    BUCKETS,
    MAX_VERSIONS,
    PRECISION_AT,
    RATES,
    SOURCES,
    VERSION_CHARS,
    Figures,
    Quality,
    Rate,
    Window,
    WindowError,
    check,
)

DEFAULT_RANGE = timedelta(days=30)
EARLIEST = datetime.min.replace(tzinfo=UTC)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The versions parameter as the schema states it: at most 12 comma-separated items of at most 100.
VERSIONS_PATTERN = rf"^[^,]{{0,{VERSION_CHARS}}}(,[^,]{{0,{VERSION_CHARS}}}){{0,{MAX_VERSIONS - 1}}}$"


class When(serializers.Field):
    """A date (midnight UTC) or a date and time with its zone, read in UTC."""

    default_error_messages = {
        "invalid": "Give a date (2026-03-01) or a date and time with its zone (2026-03-01T09:00:00Z).",
        "naive": "Give the time zone too (Z or an offset like +01:00).",
        "range": "Out of range.",
    }

    def to_internal_value(self, data) -> datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        text = data.strip().upper()  # RFC 3339 allows a lower-case t and z
        try:
            if _DATE.fullmatch(text):
                day = date.fromisoformat(text)
                return datetime(day.year, day.month, day.day, tzinfo=UTC)
            moment = parse_datetime(text)
        except ValueError:
            self.fail("invalid")
        if moment is None:
            self.fail("invalid")
        if moment.utcoffset() is None:
            self.fail("naive")
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            self.fail("range")

    def to_representation(self, value):
        return serializers.DateTimeField().to_representation(value)


class VersionList(serializers.CharField):
    """Comma-separated versions; an empty item stands for requests logged without a version."""

    def to_internal_value(self, data) -> tuple[str, ...]:
        text = super().to_internal_value(data)
        if "\x00" in text:  # CharField's own check runs on the tuple returned here, so too late
            raise serializers.ValidationError("Null characters are not allowed.")
        items = text.split(",")
        if len(items) > MAX_VERSIONS:
            raise serializers.ValidationError(f"At most {MAX_VERSIONS} versions at a time.")
        if any(len(item) > VERSION_CHARS for item in items):
            raise serializers.ValidationError(f"A version has at most {VERSION_CHARS} characters.")
        # As given: " v1" is a version of its own (the request log's filter does not strip either).
        return tuple(dict.fromkeys(items))


class QualityQuery(StrictSerializer):
    """The query string; `validated_data["window"]` is what to compute."""

    since = When(required=False, help_text="Start (inclusive) of the request times; default: until - 30 days")
    until = When(required=False, help_text="End (exclusive); default: now")
    bucket = serializers.ChoiceField(choices=BUCKETS, required=False, help_text="Bucket of the series (UTC)")
    versions = VersionList(
        required=False,
        trim_whitespace=False,
        help_text="Comma-separated versions (at most 12, A then B for a comparison); default: every "
        "version with requests in range, the 12 with most requests when more. An empty item means "
        "requests logged without a version.",
    )
    baseline_since = When(required=False, help_text="Start of the drift baseline (with baseline_until)")
    baseline_until = When(required=False, help_text="End (exclusive) of the drift baseline")
    k = serializers.ChoiceField(choices=PRECISION_AT, required=False, help_text="k of precision@k")

    @classmethod
    def read(cls, query_params) -> Window:
        """The window the query string asks for; a ValidationError naming each parameter at fault."""
        repeated = sorted(name for name in query_params if len(query_params.getlist(name)) > 1)
        if repeated:
            raise serializers.ValidationError(dict.fromkeys(repeated, ["Give this parameter once."]))
        # An empty value is no value: the default applies (as the request log's filters read it).
        given = {name: value for name, value in query_params.items() if value != ""}
        query = cls(data=given)
        query.is_valid(raise_exception=True)
        return query.validated_data["window"]

    def validate(self, attrs):
        until = attrs.get("until") or timezone.now().astimezone(UTC)
        # 30 days back, or from the first time there is when `until` is nearer to it than that.
        since = attrs.get("since") or max(until, EARLIEST + DEFAULT_RANGE) - DEFAULT_RANGE
        window = Window(
            since=since,
            until=until,
            bucket=attrs.get("bucket", "day"),
            versions=attrs.get("versions"),
            baseline_since=attrs.get("baseline_since"),
            baseline_until=attrs.get("baseline_until"),
            k=attrs.get("k", 3),
        )
        try:
            check(window)
        except WindowError as error:
            raise serializers.ValidationError({error.field: [error.message]}) from None
        return {"window": window}


# --- the answer ---


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else serializers.DateTimeField().to_representation(moment)


def _rate(rate: Rate) -> dict:
    return {"hits": rate.hits, "total": rate.total, "value": rate.value, "low": rate.low, "high": rate.high}


def figures_json(figures: Figures) -> dict:
    answer = {
        "requests": figures.requests,
        "by_source": dict(figures.by_source),
        "latency_ms": dict(figures.latency_ms),
        "tokens": dict(figures.tokens),
        "cost": None if figures.cost is None else str(figures.cost),
        "mrr": figures.mrr,
        "mrr_n": figures.mrr_n,
    }
    for name in RATES:
        answer[name] = _rate(getattr(figures, name))
    answer["judges"] = {label: _rate(rate) for label, rate in figures.judges.items()}
    return answer


def quality_json(answer: Quality) -> dict:
    window = answer.window
    comparison = answer.comparison
    return {
        "window": {
            "since": _time(window.since),
            "until": _time(window.until),
            "bucket": window.bucket,
            "versions": None if window.versions is None else list(window.versions),
            "baseline_since": _time(window.baseline_since),
            "baseline_until": _time(window.baseline_until),
            "k": window.k,
        },
        "versions": [
            {
                "version": version.version,
                "total": figures_json(version.total),
                "series": [{"start": _time(start), **figures_json(f)} for start, f in version.series],
                "reasons": [{"reason": reason, "requests": n} for reason, n in version.reasons],
                "reviewers": [{"reviewer": email, "requests": n} for email, n in version.reviewers],
                "drift": None
                if version.drift is None
                else {
                    "requests": version.drift.requests,
                    "novel": version.drift.novel,
                    "share": None if version.drift.share is None else _rate(version.drift.share),
                    "baseline_empty": version.drift.baseline_empty,
                    "top_new": [{"doc_uri": uri, "requests": n} for uri, n in version.drift.top_new],
                },
            }
            for version in answer.versions
        ],
        "comparison": None
        if comparison is None
        else {
            "a": comparison.a,
            "b": comparison.b,
            "difference": comparison.difference,
            "p_value": comparison.p_value,
            "verdict": comparison.verdict,
            "sentence": comparison.sentence,
            "more_reviews_needed": comparison.more_reviews_needed,
        },
        "versions_left_out": answer.versions_left_out,
    }


# --- the answer's shape, for the OpenAPI schema ---


def _share(description: str) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, min_value=0, max_value=1, help_text=description)


class QualityRateOutput(serializers.Serializer):
    hits = serializers.IntegerField(min_value=0)
    total = serializers.IntegerField(min_value=0)
    value = _share("hits / total; null when total is 0")
    low = _share("Lower bound of the 95% Wilson interval")
    high = _share("Upper bound of the 95% Wilson interval")


class QualityCountsBySource(serializers.Serializer):
    def get_fields(self):
        return {source: serializers.IntegerField(min_value=0) for source in SOURCES}


class QualityLatencyOutput(serializers.Serializer):
    p50 = serializers.IntegerField(allow_null=True, help_text="Nearest rank: the value at rank ceil(0.50 n)")
    p95 = serializers.IntegerField(allow_null=True, help_text="The value at rank ceil(0.95 n)")
    p99 = serializers.IntegerField(allow_null=True, help_text="The value at rank ceil(0.99 n)")
    n = serializers.IntegerField(min_value=0, help_text="Requests with a latency")


class QualityTokensOutput(serializers.Serializer):
    request = serializers.IntegerField(min_value=0)
    response = serializers.IntegerField(min_value=0)
    total = serializers.IntegerField(min_value=0)


class QualityFiguresOutput(serializers.Serializer):
    requests = serializers.IntegerField(min_value=0)
    by_source = QualityCountsBySource()
    errors = QualityRateOutput(help_text="Requests with status error / requests")
    incomplete = QualityRateOutput(help_text="Requests with status incomplete / requests")
    latency_ms = QualityLatencyOutput(help_text="Chain latency percentiles (nearest rank)")
    tokens = QualityTokensOutput(help_text="Sums of the token counts")
    cost = serializers.DecimalField(
        max_digits=30,
        decimal_places=6,
        allow_null=True,
        help_text="request tokens / 1000 x input price + response tokens / 1000 x output price; "
        "null when the app has no prices",
    )
    reviewed = QualityRateOutput(help_text="Requests with feedback / requests")
    thumbs_up = QualityRateOutput(
        help_text="Requests whose every effective rating is a thumbs up / requests with any rating"
    )
    corrections = QualityRateOutput(
        help_text="Reviewed requests with a corrected response / reviewed requests"
    )
    missing_sources = QualityRateOutput(
        help_text="Reviewed requests where a reviewer added a source / reviewed"
    )
    chunk_precision = QualityRateOutput(
        help_text="Relevant passages / rated passages (relevant: more of its ratings say so than not)"
    )
    hit_rate = QualityRateOutput(help_text="Requests with a relevant passage / requests with a rated passage")
    mrr = serializers.FloatField(
        allow_null=True,
        help_text="Mean of 1 / rank of the first relevant passage (0 when none) over requests with a rated passage",
    )
    mrr_n = serializers.IntegerField(min_value=0, help_text="Requests with a rated passage")
    precision_at_k = QualityRateOutput(help_text="Relevant among the first k passages / rated among them")
    judges = serializers.DictField(
        child=QualityRateOutput(),
        help_text='Each judge version ("name vN") with results: its passes / its verdicts (errors left out)',
    )


class QualityPointOutput(QualityFiguresOutput):
    start = serializers.DateTimeField(help_text="Start of the bucket (UTC)")


class QualityReasonOutput(serializers.Serializer):
    reason = serializers.CharField()
    requests = serializers.IntegerField(min_value=1, help_text="Requests whose thumbs down in force gives it")


class QualityReviewerOutput(serializers.Serializer):
    reviewer = serializers.CharField(help_text="Email")
    requests = serializers.IntegerField(min_value=1, help_text="Requests in range they assessed")


class QualityNewDocumentOutput(serializers.Serializer):
    doc_uri = serializers.CharField()
    requests = serializers.IntegerField(min_value=1)


class QualityDriftOutput(serializers.Serializer):
    requests = serializers.IntegerField(min_value=0, help_text="Requests that retrieved any document")
    novel = serializers.IntegerField(
        min_value=0,
        allow_null=True,
        help_text="Of them, requests that retrieved a doc_uri the baseline never retrieved; "
        "null when the baseline retrieved nothing",
    )
    share = QualityRateOutput(allow_null=True, help_text="novel / requests; null when novel is")
    baseline_empty = serializers.BooleanField(
        help_text="The baseline retrieved no document, so every document would be new: drift is not measured"
    )
    top_new = QualityNewDocumentOutput(many=True, help_text="The 10 new doc_uris retrieved by most requests")


class QualityVersionOutput(serializers.Serializer):
    version = serializers.CharField(allow_blank=True, help_text='"" for requests logged without a version')
    total = QualityFiguresOutput(help_text="Over the whole range")
    series = QualityPointOutput(many=True, help_text="One per bucket of the range, empty ones included")
    reasons = QualityReasonOutput(
        many=True, help_text="Reasons of the thumbs down in force, most requests first"
    )
    reviewers = QualityReviewerOutput(many=True, help_text="Most requests first (at most 100)")
    drift = QualityDriftOutput(allow_null=True, help_text="null without a baseline")


class QualityComparisonOutput(serializers.Serializer):
    a = serializers.CharField(allow_blank=True)
    b = serializers.CharField(allow_blank=True)
    difference = serializers.FloatField(allow_null=True, help_text="Thumbs-up rate of B - rate of A")
    p_value = serializers.FloatField(allow_null=True, help_text="Two-sided two-proportion z-test")
    verdict = serializers.ChoiceField(choices=["better", "worse", "not distinguishable"])
    sentence = serializers.CharField()
    more_reviews_needed = serializers.IntegerField(
        allow_null=True, help_text="Per version, for 80% power at alpha 0.05 at the observed rates"
    )


class QualityWindowOutput(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    bucket = serializers.ChoiceField(choices=BUCKETS)
    versions = serializers.ListField(child=serializers.CharField(allow_blank=True), allow_null=True)
    baseline_since = serializers.DateTimeField(allow_null=True)
    baseline_until = serializers.DateTimeField(allow_null=True)
    k = serializers.ChoiceField(choices=PRECISION_AT)


class QualityOutput(serializers.Serializer):
    window = QualityWindowOutput()
    versions = QualityVersionOutput(many=True, help_text="Newest version first")
    comparison = QualityComparisonOutput(
        allow_null=True, help_text="When exactly two versions were asked for: B against A"
    )
    versions_left_out = serializers.IntegerField(
        min_value=0, help_text="Versions with requests in range left out (beyond 12, the fewest requests)"
    )
