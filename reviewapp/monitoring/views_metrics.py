"""/metrics: the Prometheus exposition, for a scraper holding METRICS_TOKEN.

Not behind sign-in (a scraper has no session) and not behind CSRF (GET only, nothing changes):
the bearer token is the whole access rule. Without METRICS_TOKEN the page does not exist.
"""

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from .metrics import DatabaseGauges, ProcessCounts


def _bearer(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _token_matches(given: str, expected: str) -> bool:
    # In constant time, so the answer's timing does not tell how much of a guess was right.
    return hmac.compare_digest(given.encode(), expected.encode())


@csrf_exempt
def metrics_view(request: HttpRequest) -> HttpResponse:
    expected = settings.METRICS_TOKEN
    if not expected:
        raise Http404("Metrics are off: METRICS_TOKEN is not set.")
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    if not _token_matches(_bearer(request), expected):
        return HttpResponse(
            "A valid METRICS_TOKEN is needed: Authorization: Bearer <token>\n",
            status=401,
            content_type="text/plain; charset=utf-8",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    registry = CollectorRegistry()
    registry.register(ProcessCounts(settings.METRICS_DIR))
    registry.register(DatabaseGauges())
    # Prometheus asks for the format it prefers (OpenMetrics or a text version); others get text 0.0.4.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = HttpResponse(encode(registry), content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
