import time

from django.conf import settings

from . import metrics


class MetricsMiddleware:
    """Early in MIDDLEWARE: counts and times every request by its URL pattern, method and status.

    No database query: a few writes to this process's metrics files. The time runs to the first
    byte of a streamed answer (a chat's answer is timed as its chain's latency). A response with
    no URL pattern is "static" (a static file) or "unmatched" (a 404, a redirect to the slashed
    URL, a refused host): never the path itself, which the client chooses.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.static_url = settings.STATIC_URL or "/static/"

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        metrics.count_request(
            route=self.route(request),
            method=request.method,
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
        return response

    def route(self, request) -> str:
        match = getattr(request, "resolver_match", None)
        if match is not None:
            return match.route or "/"  # the home page's pattern is ""
        return "static" if request.path.startswith(self.static_url) else "unmatched"
