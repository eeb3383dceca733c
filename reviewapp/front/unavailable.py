"""When the database cannot be reached: 503 with Retry-After, not a 500.

The error can surface anywhere (a view, DRF's authentication, the session or axes middleware),
so it is caught where Django ends every uncaught error: handler500, which sees sys.exc_info().
The API (and SCIM) answers JSON; a browser gets a page rendered without the database (no
context processors: they would load the session and the user). Only "cannot reach the
database" errors are a 503; any other error stays the 500 it is.
"""

import functools
import logging
import re
import sys

from django.db import DatabaseError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader

from reviewapp.accounts.middleware import scim_error

from . import api_errors

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10
DETAIL = "The database cannot be reached right now; nothing was changed. Try again in a few seconds."
CODE = "database_unavailable"
SCIM_PREFIX = "/scim/"

# PostgreSQL errors of a server that is going away, starting or full: SQLSTATE class 08
# (connection exception), admin/crash shutdown, "the database system is starting up", too many
# connections. Others (statement timeouts, deadlocks, serialization failures) stay 500s.
_POSTGRES_UNAVAILABLE = {"57P01", "57P02", "57P03", "53300"}


def is_unreachable(exc: BaseException | None) -> bool:
    """True for an error that says the database cannot be reached (not that a query was wrong)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OperationalError) and _driver_says_unreachable(exc.__cause__):
            return True
        exc, seen = exc.__cause__, seen + 1
    return False


# psycopg's own errors (no SQLSTATE) that say the connection failed, was lost or is closed; its
# other client-side errors (too many query parameters, a bad pipeline state) stay 500s.
_PSYCOPG_CONNECTION_WORDS = re.compile(
    r"connection failed|connection is lost|connection is closed|server closed the connection"
    r"|timeout expired|could not connect|could not (send|receive) data|no connection to the server"
    r"|ssl syscall error|couldn't reset connection",
    re.IGNORECASE,
)


def _driver_says_unreachable(cause: BaseException | None) -> bool:
    if cause is None:
        return False
    module = type(cause).__module__.split(".")[0]
    if module == "psycopg":
        import psycopg

        sqlstate = getattr(cause, "sqlstate", None)
        if sqlstate is not None:
            return sqlstate.startswith("08") or sqlstate in _POSTGRES_UNAVAILABLE
        return isinstance(cause, psycopg.errors.ConnectionTimeout) or bool(
            _PSYCOPG_CONNECTION_WORDS.search(str(cause))
        )
    if module == "sqlite3":
        import sqlite3

        # The file (or its folder, or the volume under it) cannot be opened or read, as opposed
        # to "no such table" or "database is locked", which share OperationalError.
        code = getattr(cause, "sqlite_errorcode", 0) & 0xFF
        return code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR)
    return False


def response(request) -> HttpResponse:
    if request.path.startswith(api_errors.API_PREFIX):
        answer = JsonResponse({"detail": DETAIL, "code": CODE}, status=503)
    elif request.path.startswith(SCIM_PREFIX):
        answer = scim_error(503, DETAIL)
    else:
        page = loader.get_template("503.html").render({"retry_after": RETRY_AFTER_SECONDS})
        answer = HttpResponse(page, status=503)
    answer["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return answer


def server_error(request):
    """handler500: a 503 when the database is unreachable, else the usual 500 (api_errors)."""
    exc = sys.exc_info()[1]
    if not is_unreachable(exc):
        return api_errors.server_error(request)
    return _logged_response(request, exc)


def _logged_response(request, exc: BaseException) -> HttpResponse:
    answer = response(request)
    # One line per request, not Django's error with a traceback: the cause is known and the same
    # for every request while the outage lasts.
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    logger.warning("Database unreachable, answered 503: %s %s (%s)", request.method, request.path, first_line)
    answer._has_been_logged = True
    return answer


def guarded(view_class):
    """`view_class` with handlers that answer the 503 themselves, for views that turn any error
    into a 500 of their own (django-scim2's SCIMView.dispatch), so handler500 never sees it."""

    def wrap(handler):
        @functools.wraps(handler)
        def guarded_handler(self, request, *args, **kwargs):
            try:
                return handler(self, request, *args, **kwargs)
            except DatabaseError as exc:
                if is_unreachable(exc):
                    return _logged_response(request, exc)
                raise

        return guarded_handler

    handlers = {
        name: wrap(getattr(view_class, name))
        for name in view_class.http_method_names
        if name != "options" and hasattr(view_class, name)
    }
    return type(view_class.__name__, (view_class,), {**handlers, "__module__": view_class.__module__})
