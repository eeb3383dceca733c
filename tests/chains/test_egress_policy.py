"""The egress policy at call time: which secrets a chain may be sent, and which addresses it may reach.

Every test runs a real listener on loopback and checks what reached it.
"""

import ipaddress
import os
import socket
import subprocess
import sys

import pytest
from django.test import override_settings

from reviewapp.catalog.models import App
from reviewapp.chains.adapters import ChainError, get_adapter
from reviewapp.chains.egress import EgressRefused, non_public_kind, parse_entry
from tests.chains.openai_server import OpenAIServer

MESSAGES = [{"role": "user", "content": "Hello?"}]


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


def adapter_for(url: str, **config):
    return get_adapter(App(slug="x", adapter=App.Adapter.HTTP, adapter_config={"url": url, **config}))


def port_of(server) -> int:
    return server.server_address[1]


# --- secrets ---


@pytest.mark.parametrize("name", ["SCIM_TOKEN", "SECRET_KEY", "DATABASE_URL", "DOCS_BOT_TOKEN"])
def test_a_variable_that_is_not_a_chain_secret_is_never_sent(server, monkeypatch, name):
    monkeypatch.setenv(name, "the-servers-own-secret")

    with pytest.raises(EgressRefused, match=f"{name} is"):
        adapter_for(server.url, secret_header="Authorization", secret_env=name).invoke(MESSAGES, timeout=5)
    assert server.requests == []


def test_our_own_settings_are_refused_even_when_the_operator_lists_them(server, monkeypatch):
    monkeypatch.setenv("SCIM_TOKEN", "scim-secret")

    with (
        override_settings(CHAIN_SECRET_ENV=["SCIM_TOKEN"]),
        pytest.raises(EgressRefused, match="own settings"),
    ):
        adapter_for(server.url, secret_header="X-Key", secret_env="SCIM_TOKEN").invoke(MESSAGES, timeout=5)
    assert server.requests == []


def test_a_variable_the_operator_lists_is_sent(server, monkeypatch):
    monkeypatch.setenv("DOCS_BOT_TOKEN", "docs-key")
    server.required_header = ("X-Key", "docs-key")

    with override_settings(CHAIN_SECRET_ENV=["DOCS_BOT_TOKEN"]):
        result = adapter_for(server.url, secret_header="X-Key", secret_env="DOCS_BOT_TOKEN").invoke(
            MESSAGES, timeout=5
        )
    assert result.response.startswith("Echo")


def test_the_operator_listing_one_of_our_own_settings_stops_start_up(tmp_path):
    result = _start_django(tmp_path, CHAIN_SECRET_ENV="CHAIN_SECRET_OK,SCIM_TOKEN")
    assert result.returncode != 0
    assert "ImproperlyConfigured: CHAIN_SECRET_ENV lists SCIM_TOKEN" in result.stderr


def test_a_chain_url_allow_entry_that_is_not_a_host_stops_start_up(tmp_path):
    result = _start_django(tmp_path, CHAIN_URL_ALLOW="10.0.0.0/8,not a host!")
    assert result.returncode != 0
    assert "CHAIN_URL_ALLOW: 'not a host!' is not a host" in result.stderr


def _start_django(tmp_path, **env):
    code = "import django; django.setup()"
    base = {k: v for k, v in os.environ.items() if k not in {"CHAIN_URL_ALLOW", "CHAIN_SECRET_ENV"}}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "DJANGO_SETTINGS_MODULE": "reviewapp.settings", "VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- addresses ---


def test_a_loopback_listener_is_refused_unless_the_operator_lists_it(server):
    with override_settings(CHAIN_URL_ALLOW=[]), pytest.raises(EgressRefused, match="loopback address"):
        adapter_for(server.url).invoke(MESSAGES, timeout=5)
    with (
        override_settings(CHAIN_URL_ALLOW=[f"127.0.0.1:{port_of(server) + 1}"]),
        pytest.raises(EgressRefused),
    ):
        adapter_for(server.url).invoke(MESSAGES, timeout=5)
    assert server.requests == []

    with override_settings(CHAIN_URL_ALLOW=[f"127.0.0.1:{port_of(server)}"]):
        assert adapter_for(server.url).invoke(MESSAGES, timeout=5).response.startswith("Echo")
    assert len(server.requests) == 1


def test_a_listed_network_allows_the_listener(server):
    with override_settings(CHAIN_URL_ALLOW=["10.0.0.0/8", "127.0.0.0/8"]):
        assert adapter_for(server.url).invoke(MESSAGES, timeout=5).response.startswith("Echo")


def test_a_host_name_that_resolves_to_loopback_is_refused(server):
    url = f"http://localhost:{port_of(server)}"

    with (
        override_settings(CHAIN_URL_ALLOW=["example.invalid"]),
        pytest.raises(EgressRefused, match="loopback"),
    ):
        adapter_for(url).invoke(MESSAGES, timeout=5)
    with override_settings(CHAIN_URL_ALLOW=[]), pytest.raises(EgressRefused, match="loopback"):
        list(adapter_for(url).stream(MESSAGES, timeout=5))
    assert server.requests == []


def test_a_public_looking_name_is_checked_on_the_address_it_resolves_to(server, monkeypatch):
    # What DNS rebinding does: a name that passed the save-time check now answers with loopback.
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        return real("127.0.0.1" if host == "chain.example.com" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    url = f"http://chain.example.com:{port_of(server)}"

    with override_settings(CHAIN_URL_ALLOW=[]), pytest.raises(EgressRefused, match="loopback"):
        adapter_for(url).invoke(MESSAGES, timeout=5)
    assert server.requests == []

    # A name the operator lists is trusted whatever it resolves to.
    with override_settings(CHAIN_URL_ALLOW=["*.example.com"]):
        assert adapter_for(url).invoke(MESSAGES, timeout=5).response.startswith("Echo")
    assert server.requests[0]["headers"]["Host"] == f"chain.example.com:{port_of(server)}"


def test_a_redirect_is_refused_and_its_target_gets_nothing(server, monkeypatch):
    monkeypatch.setenv("CHAIN_SECRET_BOT", "sk-redirected")
    with OpenAIServer() as target:
        target_port = port_of(target)
        server.raw_answer = (
            307,
            {"Location": f"http://127.0.0.1:{target_port}/v1/chat/completions"},
            b"moved: internal-token-abc",
        )
        adapter = adapter_for(server.url, secret_header="Authorization", secret_env="CHAIN_SECRET_BOT")

        with (
            override_settings(CHAIN_URL_ALLOW=[f"127.0.0.1:{port_of(server)}"]),
            pytest.raises(ChainError, match="redirect \\(HTTP 307\\) to 127.0.0.1") as exc,
        ):
            adapter.invoke(MESSAGES, timeout=5)
        assert "internal-token-abc" not in str(exc.value)
        assert target.requests == []

    server.raw_answer = (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"")
    with pytest.raises(ChainError, match="redirect \\(HTTP 302\\) to 169.254.169.254"):
        list(adapter.stream(MESSAGES, timeout=5))


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00:ec2::254", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback (inside an IPv6)"),
        ("::ffff:169.254.169.254", "link-local (inside an IPv6)"),
        ("64:ff9b::a9fe:a9fe", "link-local (inside an IPv6)"),
        ("2002:7f00:1::", "loopback (inside an IPv6)"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_addresses_are_classified_public_or_not(address, kind):
    assert non_public_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        ("Chains.Example.com", ("name", "chains.example.com", None)),
        ("llm.internal:8443", ("name", "llm.internal", 8443)),
        ("*.corp.example", ("suffix", ".corp.example", None)),
        ("10.0.0.0/8", ("network", ipaddress.ip_network("10.0.0.0/8"), None)),
        ("127.0.0.1:8000", ("network", ipaddress.ip_network("127.0.0.1/32"), 8000)),
        ("[::1]", ("network", ipaddress.ip_network("::1/128"), None)),
        ("[::1]:9000", ("network", ipaddress.ip_network("::1/128"), 9000)),
        ("fd00::/8", ("network", ipaddress.ip_network("fd00::/8"), None)),
    ],
)
def test_chain_url_allow_entries_are_hosts_ports_wildcards_ips_and_cidrs(entry, parsed):
    assert parse_entry(entry) == parsed
