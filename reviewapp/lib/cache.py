"""The Redis cache (django-redis), made so that nothing a user does waits on Redis.

The cache keeps counts (allauth's sign-in limits, the API throttles) and the one-time tokens
allauth has seen. With Redis down a count is lost, a request is not: every call gives up within
short socket timeouts and answers as if the cache were empty (IGNORE_EXCEPTIONS in
settings.CACHES), add() as RedisCache says. Sign-in stays guarded by django-axes, whose lockouts
are rows in the database.

A Redis that does not answer would still cost a timeout per call, and a sign-in makes about a
dozen; so after a failure the pool below fails every call at once for a few seconds, then lets
one through to see whether Redis is back.
"""

import logging
import re
import threading
import time

import redis
from django_redis.cache import RedisCache as DjangoRedisCache
from django_redis.cache import omit_exception

logger = logging.getLogger(__name__)

# Redis answers a cache call in well under a millisecond; these only bound a Redis that does not.
CONNECT_TIMEOUT_SECONDS = 0.5
READ_TIMEOUT_SECONDS = 1.0


def redis_cache(url: str) -> dict:
    """The CACHES entry for the Redis at `url`."""
    return {
        "BACKEND": "reviewapp.lib.cache.RedisCache",
        "LOCATION": url,
        "OPTIONS": {
            "IGNORE_EXCEPTIONS": True,
            "SOCKET_CONNECT_TIMEOUT": CONNECT_TIMEOUT_SECONDS,
            "SOCKET_TIMEOUT": READ_TIMEOUT_SECONDS,
            "CONNECTION_POOL_CLASS": "reviewapp.lib.cache.BreakerConnectionPool",
        },
    }


# allauth's rate-limit counts are locked with add("allauth:rl:<app>:<action>:<rate>:<who>:lock")
# (allauth.core.internal.ratelimit.cache_lock).
_RATE_LIMIT_LOCK = re.compile(r"allauth:rl:.+:lock")


class RedisCache(DjangoRedisCache):
    """add() with Redis unreachable answers "not stored" (False), as a key already there would:
    callers that use it to see a token once (allauth's ID-token jti, a used TOTP code) refuse it.
    Except for allauth's rate-limit locks: it refuses the sign-in when it cannot get one, so there
    "stored" (True), and the count goes on without the cache."""

    def add(self, key, *args, **kwargs):
        if _RATE_LIMIT_LOCK.fullmatch(str(key)):
            return self._add_or_stored(key, *args, **kwargs)
        return self._add_or_not_stored(key, *args, **kwargs)

    @omit_exception(return_value=True)
    def _add_or_stored(self, *args, **kwargs):
        return self.client.add(*args, **kwargs)

    @omit_exception(return_value=False)
    def _add_or_not_stored(self, *args, **kwargs):
        return self.client.add(*args, **kwargs)


class BreakerConnectionPool(redis.ConnectionPool):
    """A connection pool that, once Redis failed to connect or answer, fails at once for
    OPEN_SECONDS before it tries again; one warning when Redis goes away, one line when it is back."""

    OPEN_SECONDS = 5.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._breaker_lock = threading.Lock()
        self._open_until = 0.0  # monotonic time before which calls fail at once
        self._failing_since: float | None = None

    def get_connection(self, *args, **kwargs):
        if time.monotonic() < self._open_until:
            raise redis.ConnectionError(f"Redis at {self._where()} failed a moment ago; not tried again yet")
        try:
            connection = super().get_connection(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            self._failed(exc)
            raise
        if self._failing_since is not None:
            self._recovered()
        return connection

    def _failed(self, exc: Exception) -> None:
        with self._breaker_lock:
            self._open_until = time.monotonic() + self.OPEN_SECONDS
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                logger.warning(
                    "Redis cache at %s is unreachable (%s: %s); cache calls skip it, trying again every %g s",
                    self._where(),
                    type(exc).__name__,
                    exc,
                    self.OPEN_SECONDS,
                )

    def _recovered(self) -> None:
        with self._breaker_lock:
            if self._failing_since is None:
                return
            down = time.monotonic() - self._failing_since
            self._failing_since = None
            self._open_until = 0.0
        logger.warning("Redis cache at %s answers again after %.0f s", self._where(), down)

    def _where(self) -> str:
        kwargs = self.connection_kwargs
        if kwargs.get("path"):
            return kwargs["path"]
        return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
