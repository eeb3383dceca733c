"""API throttles, with their rates in settings.API_THROTTLE_RATES.

`user` is each user's whole API budget: all of the user's tokens and their session share it, so
issuing more tokens does not buy more calls. An action scope limits the costly writes of a view
that names a `throttle_scope` (feedback, invocations, imports, exports) per API token, so one
runaway script does not use up the budget of the user's other tokens; session requests are
counted per user.

Each budget is a sliding log, as DRF's SimpleRateThrottle keeps it: a call is let through while
fewer than N calls were let through in the last period, and only calls let through are counted.
The user budget is checked first; a call it refuses does not count towards the action's. Both
budgets of a call are checked and counted in one cache round trip: on Redis by one script over a
sorted set per budget (atomic, so parallel workers cannot both take the last call), on any
other cache (the embedded default's files) as one entry per user holding all of that user's logs.
"""

import logging
import math
import secrets
import time
from dataclasses import dataclass
from types import SimpleNamespace

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from .models import ApiToken

logger = logging.getLogger(__name__)

_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# The calls' times: wall-clock seconds, as every web process must agree on them (tests set it).
clock = time.time

# While the cache fails, one warning per process until it answers again, not one per call.
_cache_failing = {"now": False}


@dataclass(frozen=True)
class Budget:
    scope: str
    rate: str  # as in settings, for the message
    limit: int
    seconds: int
    ident: str  # user-<pk> or token-<pk>
    per: str  # "user" or "API token", for the message


def parse_rate(rate: str) -> tuple[int, int]:
    """`60/min` → (60, 60): DRF's reading of a rate (the period's first letter)."""
    count, period = rate.split("/")
    return int(count), _PERIOD_SECONDS[period[0]]


def budgets_for(user, auth, method: str, action_scope: str | None) -> list[Budget]:
    """The budgets a call counts towards, in the order they are checked."""
    if not user or not user.is_authenticated:
        return []
    rates = settings.API_THROTTLE_RATES
    budgets = []
    rate = rates.get("user")
    if rate is not None:
        budgets.append(Budget("user", rate, *parse_rate(rate), f"user-{user.pk}", "user"))
    if action_scope and method not in SAFE_METHODS:
        rate = rates.get(action_scope)
        if rate is not None:
            if isinstance(auth, ApiToken):
                ident, per = f"token-{auth.pk}", "API token"
            else:
                ident, per = f"user-{user.pk}", "user"
            budgets.append(Budget(action_scope, rate, *parse_rate(rate), ident, per))
    return budgets


def check(user, budgets: list[Budget]) -> exceptions.Throttled | None:
    """Counts a call against `budgets`; the refusal of the first one it is past, or None.

    When the cache fails the call is let through: serving unthrottled beats refusing everyone.
    """
    if not budgets:
        return None
    now = clock()
    try:
        refused = _count(user, budgets, now)
    except Exception:
        # Cache backends raise their own error types.
        _cache_failed(budgets[0].scope)
        return None
    _cache_failing["now"] = False
    if refused is None:
        return None
    index, count, oldest = refused
    budget = budgets[index]
    # DRF's advice: the time until the oldest counted call leaves the window, shared out over
    # the calls then free; none when more were counted than the limit now allows.
    remaining = budget.seconds - (now - oldest) if count else budget.seconds
    available = budget.limit - count + 1
    wait = remaining / available if available > 0 else None
    return exceptions.Throttled(
        wait=wait,
        detail=f"Too many {budget.scope} requests: the limit is {budget.rate} per {budget.per}.",
    )


def _cache_failed(scope: str) -> None:
    if _cache_failing["now"]:
        logger.debug("API throttle %r let a request through: its cache failed", scope, exc_info=True)
        return
    _cache_failing["now"] = True
    logger.warning(
        "API throttle %r let a request through: its cache failed (further failures are not logged "
        "until it answers again)",
        scope,
        exc_info=True,
    )


def _count(user, budgets: list[Budget], now: float) -> tuple[int, int, float] | None:
    redis = _redis_client()
    if redis is not None:
        return _count_in_redis(redis, budgets, now)
    return _count_in_entry(user, budgets, now)


def _redis_client():
    """The redis-py client behind the default cache, if it is Redis (django-redis or Django's own)."""
    client = getattr(cache, "client", None)  # django-redis
    if client is not None and hasattr(client, "get_client"):
        return client.get_client(write=True)
    inner = getattr(cache, "_cache", None)  # django.core.cache.backends.redis
    if inner is not None and hasattr(inner, "get_client") and hasattr(inner, "_pools"):
        return inner.get_client(write=True)
    return None


# KEYS: one sorted set per budget (members are calls, scored by their time). ARGV: now, then per
# budget its limit, its period in seconds and a member for this call. Each budget in turn counts
# the call or refuses it (budgets before it keep the call). Returns {} when the call is let
# through, else {budget number (1-based), calls counted, time of the oldest as a string}.
_COUNT_SCRIPT = """
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[3 * i - 1])
  local seconds = tonumber(ARGV[3 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - seconds)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return {i, count, oldest[2] or '0'}
  end
  redis.call('ZADD', key, now, ARGV[3 * i + 1])
  redis.call('EXPIRE', key, seconds)
end
return {}
"""
_script = {}  # the registered script: run by its SHA, loaded again where Redis lacks it


def _count_in_redis(redis, budgets: list[Budget], now: float) -> tuple[int, int, float] | None:
    script = _script.get("count") or _script.setdefault("count", redis.register_script(_COUNT_SCRIPT))
    keys = [cache.make_key(f"throttle-log:{b.scope}:{b.ident}") for b in budgets]
    # A member per call: calls in the same microsecond are still two calls.
    member = f"{now!r}:{secrets.token_hex(4)}"
    args = [repr(now)]
    for budget in budgets:
        args += [budget.limit, budget.seconds, member]
    refused = script(keys=keys, args=args, client=redis)
    if not refused:
        return None
    return int(refused[0]) - 1, int(refused[1]), float(refused[2])


def _count_in_entry(user, budgets: list[Budget], now: float) -> tuple[int, int, float] | None:
    """One cache entry per user: {(scope, ident): (seconds, [times, newest first])}.

    A user's budgets all live in it (their tokens are theirs), so a call is one get and one set.
    Like DRF's throttles on such a cache, two parallel calls can both read the same count.
    """
    key = f"throttle-logs:user-{user.pk}"
    logs = cache.get(key) or {}
    if not isinstance(logs, dict):
        logs = {}
    for index, budget in enumerate(budgets):
        _seconds, times = logs.get((budget.scope, budget.ident), (budget.seconds, []))
        times = [t for t in times if t > now - budget.seconds]
        if len(times) >= budget.limit:
            refused = index, len(times), times[-1]
            break
        logs[(budget.scope, budget.ident)] = (budget.seconds, [now, *times])
    else:
        refused = None
    # Other budgets' logs are kept until their own calls leave their windows.
    kept = {}
    for name, (seconds, times) in logs.items():
        times = [t for t in times if t > now - seconds]
        if times:
            kept[name] = (seconds, times)
    if refused is None or index > 0:  # else nothing was counted
        timeout = max(times[0] + seconds - now for seconds, times in kept.values())
        cache.set(key, kept, math.ceil(timeout))
    return refused


class ApiThrottle(BaseThrottle):
    """DRF's throttle for every API view: the `user` budget, and the view's `throttle_scope` for writes."""

    def allow_request(self, request, view) -> bool:
        scope = getattr(view, "throttle_scope", None)
        budgets = budgets_for(request.user, request.auth, request.method, scope)
        refusal = check(request.user, budgets)
        if refusal is not None:
            # Raised here rather than returned, so the message names the limit that was hit.
            raise refusal
        return True


def page_refusal(request, scope: str) -> exceptions.Throttled | None:
    """The API's per-user budget for `scope`, applied to an HTML view's write (the web chat runs
    chains as the invocations API does); the refusal to show, or None when within the budget."""
    # A page request has no API token: its action budget is counted per user.
    counted = SimpleNamespace(user=request.user, auth=None, method=request.method)
    return check(counted.user, budgets_for(counted.user, counted.auth, counted.method, scope))
