from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.catalog.permissions import get_app_for
from reviewapp.front.api_schema import EMPTY_IS_ABSENT

from .quality import BUCKETS, MAX_BUCKETS, PRECISION_AT, quality
from .serializers import VERSIONS_PATTERN, QualityOutput, QualityQuery, quality_json

_WHEN = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}


def _parameter(name: str, schema: dict, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, schema, description=description, extensions=EMPTY_IS_ABSENT)


QUERY = [
    _parameter(
        "since",
        _WHEN,
        "Start (inclusive) of the request times: a date (midnight UTC) or a date-time with its zone; "
        "default: `until` - 30 days",
    ),
    _parameter("until", _WHEN, "End (exclusive) of the request times; default: now"),
    _parameter(
        "bucket",
        {"type": "string", "enum": list(BUCKETS), "default": "day"},
        f"Bucket of the series, in UTC (weeks start on Monday); at most {MAX_BUCKETS:,} buckets in the range",
    ),
    _parameter(
        "versions",
        {"type": "string", "pattern": VERSIONS_PATTERN},
        "Comma-separated app versions, at most 12 (A,B: a comparison of B against A); default: every "
        "version with requests in range (the 12 with most requests). An empty item stands for requests "
        "logged without a version.",
    ),
    _parameter("baseline_since", _WHEN, "Start of the drift baseline (give baseline_until too)"),
    _parameter("baseline_until", _WHEN, "End (exclusive) of the drift baseline (give baseline_since too)"),
    _parameter("k", {"type": "integer", "enum": list(PRECISION_AT), "default": 3}, "The k of precision@k"),
]


class QualityApi(APIView):
    @extend_schema(
        parameters=QUERY,
        responses=QualityOutput,
        summary="Quality over time per app version: traffic, latency, tokens, cost, people's ratings, "
        "retrieval, drift, A/B (managers)",
        description="Per version and time bucket (request time), with the counts behind every rate and "
        "its 95% Wilson interval. Thumbs-up rate: requests whose every effective rating is a thumbs up / "
        "requests with any rating; reviewed share: requests with feedback / requests; correction and "
        "missing-source rates: over reviewed requests; chunk precision: relevant / rated passages; hit "
        "rate: requests with a relevant passage / requests with a rated passage; MRR: mean of 1 / rank "
        "of the first relevant passage (0 when none) over requests with a rated passage; precision@k: "
        "relevant among the first k passages / rated among them; drift: share of requests (that "
        "retrieved any document) that retrieved a doc_uri never retrieved in the baseline. A passage is "
        "relevant when more of its ratings say so than not. Decimals are strings.",
    )
    def get(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        window = QualityQuery.read(request.query_params)
        return Response(quality_json(quality(app, window)))
