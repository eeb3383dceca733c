"""The pages people see for 400, 403 and 404: what happened and what to do, in plain words.

Never the exception: a Resolver404 names the URL patterns tried, and a get_object_or_404
names the model. Only the path the person asked for is shown, and a way back.
"""

from django.http import HttpResponse
from django.template import loader
from django.utils.http import url_has_allowed_host_and_scheme


def _back(request) -> str:
    """The page the person came from, if it is on this site and is not this page."""
    referer = request.META.get("HTTP_REFERER", "")
    try:
        host = request.get_host()
    except Exception:  # a host not in ALLOWED_HOSTS: no way back to offer, still a friendly page
        return ""
    if not referer or referer.endswith(request.get_full_path()):
        return ""
    return referer if url_has_allowed_host_and_scheme(referer, allowed_hosts={host}) else ""


def _page(request, template: str, status: int, **context) -> HttpResponse:
    context = {"request_path": request.path, "back": _back(request), **context}
    return HttpResponse(loader.render_to_string(template, context, request), status=status)


def bad_request(request, exception) -> HttpResponse:
    return _page(request, "400.html", 400)


def permission_denied(request, exception) -> HttpResponse:
    # Our PermissionDenied messages are written for people ("This needs … on the app"); an
    # exception without one says nothing more than the page does.
    reason = str(exception) if exception is not None and exception.args else ""
    return _page(request, "403.html", 403, reason=reason)


def page_not_found(request, exception) -> HttpResponse:
    return _page(request, "404.html", 404)
