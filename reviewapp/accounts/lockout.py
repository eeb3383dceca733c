"""django-axes hooks: who a sign-in attempt is for, and the page a locked-out person sees.

allauth authenticates with `email=`, the admin's form with `username=`; both name the same
account, so both count towards one lockout.
"""

import ipaddress
import math
from datetime import datetime

from axes.backends import AxesStandaloneBackend
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.conf import settings
from django.db.models import Max
from django.shortcuts import render
from django.utils import timezone

# axes stores the name in a 255-character column.
MAX_USERNAME = 255


class LockoutBackend(AxesStandaloneBackend):
    """Refuses sign-in to a locked-out account and address; first in AUTHENTICATION_BACKENDS.

    A call without a request (a password check in code, the test client's login()) has no
    client to lock out; axes would raise there, so it steps aside instead.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def username_of(request, credentials: dict | None) -> str | None:
    """The account an attempt is for, the same however it was spelled (emails are case-blind here)."""
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username")
    if value is None and request is not None:
        data = getattr(request, "POST", {})
        value = data.get("login") or data.get("username")
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().lower().replace("\x00", "")[:MAX_USERNAME]


def client_ip(request) -> str | None:
    """The client's address: behind the TLS proxy (BEHIND_TLS_PROXY), the one it appended to
    X-Forwarded-For; the entries before it are whatever the client sent, so they are ignored."""
    if settings.SECURE_PROXY_SSL_HEADER:
        appended = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(appended))
        except ValueError:
            pass
    return request.META.get("REMOTE_ADDR")


def lockout_ends_at(request, credentials: dict | None) -> datetime:
    """When the lockout that refused this request ends: its newest counted failure plus the cool-off."""
    attempts = AxesProxyHandler.get_implementation().get_user_attempts(request, credentials)
    newest = [qs.aggregate(newest=Max("attempt_time"))["newest"] for qs in attempts]
    latest = max((t for t in newest if t is not None), default=timezone.now())
    return latest + get_cool_off(request)


def lockout_response(request, original_response=None, credentials=None):
    ends_at = lockout_ends_at(request, credentials)
    seconds = max(1, math.ceil((ends_at - timezone.now()).total_seconds()))
    response = render(
        request,
        "account/lockout.html",
        {"ends_at": ends_at, "minutes": math.ceil(seconds / 60), "sign_in_url": request.get_full_path()},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response
