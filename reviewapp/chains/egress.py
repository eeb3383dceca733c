"""What a chain call may send out, and where: the operator's secret allowlist and URL policy.

Secrets: an app's `secret_env` may name only a variable whose name starts with CHAIN_SECRET_, or
one listed in the CHAIN_SECRET_ENV setting, and never one of this server's own settings.

URLs: public addresses are allowed; loopback, private, link-local (cloud metadata), shared
(CGNAT), unspecified, multicast and reserved addresses only when CHAIN_URL_ALLOW lists them
(hosts, host:port, *.domain, IPs, CIDRs). The check runs on the address each socket connects to,
after DNS resolution, so a name that resolves (or re-resolves) to an internal address cannot pass.
A host listed by name is trusted whatever it resolves to: the operator vouches for that name.
"""

import contextlib
import contextvars
import functools
import ipaddress
import os
import re
import socket
import sys
from dataclasses import dataclass
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection

from .base import ChainError

SECRET_PREFIX = "CHAIN_SECRET_"
# This server's own settings (and the variables its services read): never handed to a chain,
# even when listed in CHAIN_SECRET_ENV. `<NAME>_FILE` of each is refused too.
OWN_SETTINGS = frozenset(
    {
        "SECRET_KEY",
        "SCIM_TOKEN",
        "METRICS_TOKEN",
        "DEMO_PASSWORD",
        "OIDC_CLIENT_SECRET",
        "OIDC_CLIENT_ID",
        "DATABASE_URL",
        "REDIS_URL",
        "MLFLOW_TRACKING_URI",
        "MLFLOW_ARTIFACT_ROOT",
        "POSTGRES_PASSWORD",
        "POSTGRES_USER",
        "PGPASSWORD",
        "PGPASSFILE",
        "CHAIN_SECRET_ENV",
        "CHAIN_URL_ALLOW",
        "APP_CREATORS",
        "EMAIL_HOST_PASSWORD",
    }
)
OWN_PREFIXES = ("DJANGO_", "CELERY_", "MLFLOW_", "OIDC_", "SCIM_", "DATABASE_", "REDIS_", "POSTGRES_", "AWS_")


class EgressRefused(ChainError):
    """The egress policy refused a chain's secret or address; nothing was sent."""


# --- secrets ---


def is_own_setting(name: str) -> bool:
    upper = name.upper()
    base = upper.removesuffix("_FILE")
    return upper in OWN_SETTINGS or base in OWN_SETTINGS or upper.startswith(OWN_PREFIXES)


def secret_name_refusal(name: str) -> str | None:
    """Why the variable `name` may not hold a chain secret, or None when it may."""
    if is_own_setting(name):
        return f"{name} is one of this server's own settings; a chain is never sent it"
    if name.startswith(SECRET_PREFIX) and len(name) > len(SECRET_PREFIX):
        return None
    if name in settings.CHAIN_SECRET_ENV:
        return None
    return (
        f"{name} is not a chain secret: use an environment variable whose name starts with "
        f"{SECRET_PREFIX} (e.g. {SECRET_PREFIX}DOCS_BOT) or one the operator lists in CHAIN_SECRET_ENV"
    )


def secret_value(name: str) -> str:
    """The value of the chain secret `name`; refused names are never read."""
    refusal = secret_name_refusal(name)
    if refusal:
        raise EgressRefused(f"The app's secret_env is refused: {refusal}")
    value = os.environ.get(name)
    if not value:
        raise ChainError(
            f"The app's endpoint needs the secret in environment variable {name}, which is not set"
        )
    return value


# --- the URL policy ---

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_HOST_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")
# Names that mean this machine without asking DNS (RFC 6761), refused when an app is saved.
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


@dataclass(frozen=True)
class Policy:
    names: frozenset[tuple[str, int | None]]
    suffixes: tuple[tuple[str, int | None], ...]
    networks: tuple[tuple[IPNetwork, int | None], ...]

    def lists_name(self, host: str, port: int | None) -> bool:
        host = normal_host(host)
        if (host, None) in self.names or (host, port) in self.names:
            return True
        return any(host.endswith(suffix) and p in (None, port) for suffix, p in self.suffixes)

    def lists_address(self, ip: IPAddress, port: int | None) -> bool:
        candidates = {ip, _embedded_ipv4(ip)} - {None}
        return any(
            candidate in network and p in (None, port)
            for candidate in candidates
            for network, p in self.networks
            if candidate.version == network.version
        )

    def address_refusal(self, ip: IPAddress, port: int | None) -> str | None:
        """Why connecting to `ip` is refused, or None when it is allowed."""
        if self.lists_address(ip, port):
            return None
        kind = non_public_kind(ip)
        if kind is None:
            return None
        return f"it is a {kind} address, and CHAIN_URL_ALLOW does not list it"


def normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), so it cannot dodge the check."""
    if ip.version == 4:
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def non_public_kind(ip: IPAddress) -> str | None:
    """What kind of non-public address `ip` is, or None when it is public."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        kind = non_public_kind(embedded)
        if kind:
            return f"{kind} (inside an IPv6)"
    for kind, test in (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", any(ip in n for n in _PRIVATE if n.version == ip.version)),
        ("shared (CGNAT)", ip.version == 4 and ip in _SHARED),
        ("reserved", ip.is_reserved),
    ):
        if test:
            return kind
    if not ip.is_global:
        return "special-purpose"
    return None


def parse_entry(entry: str) -> tuple[str, object, int | None]:
    """("name" | "suffix" | "network", value, port) for one CHAIN_URL_ALLOW entry."""
    text = entry.strip().lower()
    port = None
    if text.startswith("["):  # [v6] or [v6]:port
        inside, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not (rest[1:].isascii() and rest[1:].isdigit()):
                raise ValueError(entry)
            port = int(rest[1:])
        return "network", ipaddress.ip_network(inside, strict=False), port
    try:
        return "network", ipaddress.ip_network(text, strict=False), None
    except ValueError:
        pass
    host, sep, maybe_port = text.rpartition(":")
    if sep and maybe_port.isascii() and maybe_port.isdigit() and ":" not in host:
        text, port = host, int(maybe_port)
    if port is not None and not 0 < port < 65536:
        raise ValueError(entry)
    try:
        return "network", ipaddress.ip_network(text), port
    except ValueError:
        pass
    if text.startswith("*.") and _HOST_NAME.match(text[2:]):
        return "suffix", text[1:], port
    if _HOST_NAME.match(text.rstrip(".")):
        return "name", text.rstrip("."), port
    raise ValueError(entry)


@functools.lru_cache(maxsize=8)
def _policy(entries: tuple[str, ...]) -> Policy:
    names, suffixes, networks = set(), [], []
    for entry in entries:
        try:
            kind, value, port = parse_entry(entry)
        except ValueError:
            raise ImproperlyConfigured(
                f"CHAIN_URL_ALLOW: {entry!r} is not a host, host:port, *.domain, IP address or CIDR"
            ) from None
        {"name": names.add, "suffix": suffixes.append, "network": networks.append}[kind]((value, port))
    return Policy(frozenset(names), tuple(suffixes), tuple(networks))


def policy() -> Policy:
    """The policy of the current settings (read at each call, so tests can override them)."""
    return _policy(tuple(settings.CHAIN_URL_ALLOW))


def check_settings() -> None:
    """Refuse, at start-up, a CHAIN_URL_ALLOW entry that does not parse or a listed own setting."""
    policy()
    own = [name for name in settings.CHAIN_SECRET_ENV if is_own_setting(name)]
    if own:
        raise ImproperlyConfigured(
            f"CHAIN_SECRET_ENV lists {', '.join(own)}: this server's own settings are never sent to chains"
        )


def _literal_address(host: str) -> IPAddress | None:
    """`host` as an IP address, including the legacy IPv4 forms (127.1, 0x7f000001, 2130706433)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def url_refusal(url: str) -> str | None:
    """Why the policy refuses `url` by its literal host (no DNS lookup), or None.

    Used when an app is saved, for a clear error early; connecting checks the resolved address.
    """
    parsed = urlparse(url)
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        return "the port is not a number from 1 to 65535"
    host = normal_host(parsed.hostname or "")
    current = policy()
    if not host or current.lists_name(host, port):
        return None
    ip = _literal_address(host)
    if ip is not None:
        refusal = current.address_refusal(ip, port)
        return f"{host} is refused: {refusal}" if refusal else None
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return f"{host} is this server itself (loopback), and CHAIN_URL_ALLOW does not list it"
    return None


def allowed_addresses(host: str, port: int) -> list[str]:
    """The resolved addresses of `host` the policy allows, in resolver order; refused if none."""
    current = policy()
    trusted = current.lists_name(host, port)
    results = socket.getaddrinfo(host.strip("[]"), port, connection.allowed_gai_family(), socket.SOCK_STREAM)
    allowed, refusals = [], []
    for *_, sockaddr in results:
        ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        refusal = None if trusted else current.address_refusal(ip, port)
        if refusal:
            refusals.append(refusal)
        elif sockaddr[0] not in allowed:
            allowed.append(sockaddr[0])
    if not allowed:
        raise EgressRefused(
            f"Refused to connect to the chain at {normal_host(host)}: {refusals[0] if refusals else 'no address'}"
        )
    return allowed


# --- connections that check where they connect ---


class _CheckedConnectionMixin:
    """Resolves the host itself, checks each address, and connects to a checked address only."""

    def _new_conn(self) -> socket.socket:
        try:
            addresses = allowed_addresses(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        error: OSError | None = None
        for address in addresses:
            try:
                sock = connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from exc
            except OSError as exc:
                error = exc
                continue
            peer = sock.getpeername()[0]
            if ipaddress.ip_address(peer.split("%", 1)[0]) != ipaddress.ip_address(address.split("%", 1)[0]):
                sock.close()
                raise EgressRefused(f"Refused to connect to the chain at {self.host}: unexpected peer")
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error


class CheckedHTTPConnection(_CheckedConnectionMixin, HTTPConnection):
    pass


class CheckedHTTPSConnection(_CheckedConnectionMixin, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


def pool_manager(**kwargs) -> PoolManager:
    """A urllib3 PoolManager whose every connection goes through the egress policy."""
    manager = PoolManager(**kwargs)
    manager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}
    return manager


# --- sockets a library opens itself ---


@dataclass(frozen=True)
class _Outbound:
    host: str
    trusted: frozenset[str]  # the addresses of a host the operator lists by name


_outbound: contextvars.ContextVar[_Outbound | None] = contextvars.ContextVar("egress_outbound", default=None)


def _audit(event: str, args: tuple) -> None:
    if event != "socket.connect":
        return
    rule = _outbound.get()
    if rule is None:
        return
    sock, address = args
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        raise EgressRefused(f"Refused to connect to {rule.host}: not an internet address")
    if address[0] in rule.trusted:
        return
    refusal = policy().address_refusal(ipaddress.ip_address(address[0].split("%", 1)[0]), address[1])
    if refusal:
        raise EgressRefused(f"Refused to connect to {rule.host}: {refusal}")


@functools.cache
def _install_audit_hook() -> None:
    sys.addaudithook(_audit)  # once per process; it cannot be removed, and is idle outside `checked_sockets`


@contextlib.contextmanager
def checked_sockets(url: str):
    """Within it, every socket this thread connects is checked against the policy on the address it
    connects to (after DNS, so a name that re-resolves to an internal address cannot pass, nor can
    a redirect). For libraries that open their own connections: MLflow's judge calls, via requests.
    `url` names the host the caller means to reach ("" for none in particular)."""
    _install_audit_hook()
    parsed = urlparse(url)
    host = normal_host(parsed.hostname or "")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    trusted = frozenset()
    if host and policy().lists_name(host, port):
        trusted = frozenset(allowed_addresses(host, port))
    token = _outbound.set(_Outbound(host or "the judge model's provider", trusted))
    try:
        yield
    finally:
        _outbound.reset(token)
