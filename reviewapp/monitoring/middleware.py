import time
from functools import partial

from django.conf import settings
from django.http import FileResponse

from . import metrics


class MetricsMiddleware:
    """Early in MIDDLEWARE: counts and times every request by its URL pattern, method and status.

    No database query: a few writes to this process's metrics files. A streamed answer (the chat's
    server-sent events) is timed to its first chunk, and counted then: its view returns before the
    chain has said a word. A file is timed to the response, its first chunk being a read away. A
    response with no URL pattern is "static" (a static file) or "unmatched" (a 404, a redirect to
    the slashed URL, a refused host): never the path itself, which the client chooses.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.static_url = settings.STATIC_URL or "/static/"

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        count = partial(
            metrics.count_request,
            route=self.route(request),
            method=request.method,
            status=response.status_code,
        )
        if response.streaming and not isinstance(response, FileResponse):
            timed = _timed_async if response.is_async else _timed
            response.streaming_content = timed(response.streaming_content, started, count)
        else:
            count(seconds=time.perf_counter() - started)
        return response

    def route(self, request) -> str:
        match = getattr(request, "resolver_match", None)
        if match is not None:
            return match.route or "/"  # the home page's pattern is ""
        return "static" if request.path.startswith(self.static_url) else "unmatched"


def _timed(chunks, started: float, count):
    counted = False
    try:
        for chunk in chunks:
            if not counted:
                counted = True
                count(seconds=time.perf_counter() - started)
            yield chunk
    finally:
        # An empty stream, or a client gone before the first chunk: timed to the end.
        if not counted:
            count(seconds=time.perf_counter() - started)


async def _timed_async(chunks, started: float, count):
    counted = False
    try:
        async for chunk in chunks:
            if not counted:
                counted = True
                count(seconds=time.perf_counter() - started)
            yield chunk
    finally:
        if not counted:
            count(seconds=time.perf_counter() - started)
