"""API throttles, with their rates in settings.API_THROTTLE_RATES.

`UserThrottle` is each user's whole API budget: all of the user's tokens and their session share
it, so issuing more tokens does not buy more calls. `ActionThrottle` limits the costly writes of
a view that names a `throttle_scope` (feedback, invocations, imports, exports) per API token, so
one runaway script does not use up the budget of the user's other tokens; session requests are
counted per user.
"""

import logging
from types import SimpleNamespace

from django.conf import settings
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import SimpleRateThrottle

from .models import ApiToken

logger = logging.getLogger(__name__)


class RateThrottle(SimpleRateThrottle):
    """A DRF throttle whose rate is read from settings at each request, and that fails open.

    DRF reads rates once into a class attribute; reading them here lets settings change them.
    """

    scope: str | None = None

    def __init__(self):
        # The scope, and so the rate, is known only once the view is (see scope_for).
        pass

    def scope_for(self, request, view) -> str | None:
        return self.scope

    def counted_as(self, request) -> str:
        return "user"

    def allow_request(self, request, view) -> bool:
        self.scope = self.scope_for(request, view)
        self.rate = settings.API_THROTTLE_RATES.get(self.scope) if self.scope else None
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            if super().allow_request(request, view):
                return True
        except Exception:
            # The counts live in the cache (Redis in production); when it fails, serving
            # unthrottled beats refusing everyone. Cache backends raise their own error types.
            logger.warning(
                "API throttle %r let a request through: its cache failed", self.scope, exc_info=True
            )
            return True
        # Raised here rather than returned, so the message names the limit that was hit.
        raise exceptions.Throttled(
            wait=self.wait(),
            detail=f"Too many {self.scope} requests: the limit is {self.rate} per {self.counted_as(request)}.",
        )

    def get_cache_key(self, request, view) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.ident(request)}

    def ident(self, request) -> str:
        return f"user-{request.user.pk}"


class UserThrottle(RateThrottle):
    scope = "user"


class ActionThrottle(RateThrottle):
    """Counts the writes of views that set `throttle_scope`; reads only count as `user`."""

    def scope_for(self, request, view) -> str | None:
        if request.method in SAFE_METHODS:
            return None
        return getattr(view, "throttle_scope", None)

    def counted_as(self, request) -> str:
        return "API token" if isinstance(request.auth, ApiToken) else "user"

    def ident(self, request) -> str:
        if isinstance(request.auth, ApiToken):
            return f"token-{request.auth.pk}"
        return super().ident(request)


def page_refusal(request, scope: str) -> exceptions.Throttled | None:
    """The API's per-user budget for `scope`, applied to an HTML view's write (the web chat runs
    chains as the invocations API does); the refusal to show, or None when within the budget."""
    # The throttles read only these attributes; a page request has no API token.
    counted = SimpleNamespace(user=request.user, auth=None, method=request.method, META=request.META)
    view = SimpleNamespace(throttle_scope=scope)
    try:
        for throttle in (UserThrottle(), ActionThrottle()):
            throttle.allow_request(counted, view)
    except exceptions.Throttled as refusal:
        return refusal
    return None
