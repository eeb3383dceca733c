"""Every API error is JSON with a `detail` (and per-field errors where there are some).

DRF's exception handler covers errors raised in API views; the handler* views below cover what
Django answers itself under /api/ (unknown routes, bodies over the size limit, crashes).
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import error_pages

API_PREFIX = "/api/"


def too_large_detail() -> str:
    return f"The request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."


def _status_of(exc: DjangoValidationError) -> int:
    """409 when every error is a taken name (code "conflict"), else 400."""
    errors = exc.error_dict.values() if hasattr(exc, "error_dict") else [exc.error_list]
    codes = {error.code for field_errors in errors for error in field_errors}
    return status.HTTP_409_CONFLICT if codes == {"conflict"} else status.HTTP_400_BAD_REQUEST


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(detail, status=_status_of(exc))
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": too_large_detail()}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        response.data = {"detail": response.data}
    return response


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request, exception):
    if not _is_api(request):
        return error_pages.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse({"detail": too_large_detail()}, status=413)
    return JsonResponse({"detail": "Bad request."}, status=400)


def permission_denied(request, exception):
    if not _is_api(request):
        return error_pages.permission_denied(request, exception)
    return JsonResponse({"detail": "You do not have permission to perform this action."}, status=403)


def page_not_found(request, exception):
    if not _is_api(request):
        return error_pages.page_not_found(request, exception)
    detail = "No such API route."
    if request.path.endswith("/") and request.path.startswith("/api/v1/"):
        detail += " API paths have no trailing slash."
    return JsonResponse({"detail": detail}, status=404)


def server_error(request):
    if not _is_api(request):
        return defaults.server_error(request)
    return JsonResponse({"detail": "Server error; it has been logged."}, status=500)
