"""Saving an HTTP app checks its URL and secret variable against the operator's egress policy.

The call-time check is the real guard (tests/chains/test_egress_policy.py); this one gives the
manager a clear error by the field before anything is called.
"""

import json

import pytest
from django.test import override_settings

from reviewapp.catalog.models import App


def create(client, config):
    body = {"name": "Remote", "slug": "remote", "adapter": "http", "adapter_config": config}
    return client.post("/api/v1/apps", json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:9/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fd00:ec2::254]/", "private"),
        ("http://[::ffff:169.254.169.254]/", "link-local (inside an IPv6)"),
        ("http://10.0.0.7:8080/v1", "private"),
        ("http://2130706433/", "loopback"),
        ("http://0x7f.1/", "loopback"),
        ("http://localhost:8000/", "loopback"),
        ("http://app.localhost/", "loopback"),
    ],
)
def test_an_internal_url_is_refused_with_a_clear_error_on_the_url(as_user, staff, url, kind):
    with override_settings(CHAIN_URL_ALLOW=[]):
        response = create(as_user(staff), {"url": url})

    assert response.status_code == 400
    [message] = response.json()["adapter_config.url"]
    assert message.startswith("this server may not call that address:")
    assert kind in message and "CHAIN_URL_ALLOW" in message
    assert not App.objects.filter(slug="remote").exists()


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("https://api.openai.com/v1", []),
        ("http://10.0.0.7:8080/v1", ["10.0.0.0/8"]),
        ("http://10.0.0.7:8080/v1", ["10.0.0.7:8080"]),
        ("http://llm.corp.example:8000/", ["*.corp.example"]),
        ("http://127.0.0.1:9/", ["127.0.0.1"]),
    ],
)
def test_public_and_listed_urls_are_accepted(as_user, staff, url, allow):
    with override_settings(CHAIN_URL_ALLOW=allow):
        assert create(as_user(staff), {"url": url}).status_code == 201


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("SCIM_TOKEN", "SCIM_TOKEN is one of this server's own settings"),
        ("SECRET_KEY", "SECRET_KEY is one of this server's own settings"),
        ("DATABASE_URL", "DATABASE_URL is one of this server's own settings"),
        ("SECRET_KEY_FILE", "SECRET_KEY_FILE is one of this server's own settings"),
        ("DOCS_BOT_TOKEN", "DOCS_BOT_TOKEN is not a chain secret: use an environment variable whose name "
                           "starts with CHAIN_SECRET_"),
    ],
)  # fmt: skip
def test_a_secret_variable_outside_the_allowlist_is_refused_naming_the_rule(as_user, staff, name, expected):
    config = {"url": "https://api.openai.com/v1", "secret_header": "Authorization", "secret_env": name}

    response = create(as_user(staff), config)

    assert response.status_code == 400
    assert response.json()["adapter_config.secret_env"][0].startswith(expected)


def test_chain_secret_variables_and_listed_ones_are_accepted(as_user, staff):
    config = {"url": "https://api.openai.com/v1", "secret_header": "Authorization"}
    client = as_user(staff)
    assert create(client, {**config, "secret_env": "CHAIN_SECRET_DOCS_BOT"}).status_code == 201

    App.objects.filter(slug="remote").delete()
    with override_settings(CHAIN_SECRET_ENV=["DOCS_BOT_TOKEN"]):
        assert create(client, {**config, "secret_env": "DOCS_BOT_TOKEN"}).status_code == 201


def test_the_settings_form_shows_both_refusals_by_their_fields(as_user, app, manager):
    with override_settings(CHAIN_URL_ALLOW=[]):
        response = as_user(manager).post(
            f"/apps/{app.slug}/settings/",
            {"form": "app", "name": app.name, "adapter": "http", "endpoint_url": "http://169.254.169.254/",
             "endpoint_kind": "openai", "secret_header": "Authorization", "secret_env": "SCIM_TOKEN",
             "version": "2", "timeout_seconds": "30"},
        )  # fmt: skip

    form = response.context["app_form"]
    assert "link-local" in form.errors["endpoint_url"][0]
    assert "own settings" in form.errors["secret_env"][0]
    app.refresh_from_db()
    assert app.adapter == App.Adapter.DEMO
