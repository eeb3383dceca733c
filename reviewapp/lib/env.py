"""Reading settings from the environment: small typed helpers that fail loudly, naming the variable."""

import os
import re
from pathlib import Path
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no/on/off, not {value!r}")


def envint(name: str, default: str) -> int:
    value = os.environ.get(name, default).strip()
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envurl(name: str, default: str, schemes: set[str]) -> str:
    value = os.environ.get(name, default).strip()
    if not value:
        return ""
    scheme = urlparse(value).scheme
    if scheme not in schemes:
        allowed = ", ".join(sorted(schemes))
        raise ImproperlyConfigured(f"{name} must be a URL with scheme {allowed}, not {value!r}")
    return value


def envsecret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file named by NAME_FILE (Docker secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE points at {path!r}, which cannot be read: {exc}"
            ) from None
    return os.environ.get(name, default)


_RATE_PERIODS = {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}


def envrate(name: str, default: str) -> str | None:
    """A throttle rate such as `60/min` (`N/s|min|hour|day`); `off` → no limit."""
    value = os.environ.get(name, default).strip().lower()
    if value == "off":
        return None
    count, _, period = value.partition("/")
    known = period in _RATE_PERIODS or period.removesuffix("s") in _RATE_PERIODS
    if not (count.isascii() and count.isdigit() and int(count) > 0 and known):
        raise ImproperlyConfigured(
            f"{name} must be a rate like 60/min (N/s, /min, /hour, /day) or off, not {value!r}"
        )
    return value


def envhosts(name: str, default: str) -> list[str]:
    """Comma-separated host names, each with an optional :port (no scheme, path or wildcard)."""
    hosts = [host.lower() for host in envlist(name, default)]
    for host in hosts:
        if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?", host):
            raise ImproperlyConfigured(
                f"{name} must list host names such as images.example.com, not {host!r}"
            )
    return hosts


# The placeholder of docker/.env.example, refused so that no installation signs with a public key.
_PLACEHOLDER_SECRET_KEYS = {"change-me-to-a-long-random-string"}
GENERATE_A_KEY = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"


def check_secret_key(key: str, *, debug: bool) -> None:
    """Refuse the example's placeholder always, and outside DEBUG a key `check --deploy` calls weak."""
    if key in _PLACEHOLDER_SECRET_KEYS:
        raise ImproperlyConfigured(
            f"SECRET_KEY is the placeholder of docker/.env.example; {GENERATE_A_KEY} "
            "(or, on a single machine, leave SECRET_KEY unset: `make run` generates VAR_DIR/secret_key)"
        )
    # The rule of Django's security.W009: at least 50 characters, 5 different, no django-insecure-.
    if not debug and (len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-")):
        raise ImproperlyConfigured(
            "SECRET_KEY is too weak for DEBUG=false (it needs at least 50 characters, 5 of them "
            f"different, and no django-insecure- prefix); {GENERATE_A_KEY}"
        )
