"""Security headers on every response: the Content-Security-Policy, HSTS and the https redirect."""

import json
import re

import pytest

from tests.conftest import client_for


def policy_of(response) -> dict[str, list[str]]:
    directives = [d.strip().split() for d in response["Content-Security-Policy"].split(";")]
    return {d[0]: d[1:] for d in directives if d}


@pytest.mark.parametrize("path", ["/apps/", "/apps/support-bot/", "/apps/support-bot/requests/"])
def test_pages_allow_only_our_own_scripts_styles_and_connections(manager, path):
    response = client_for(manager).get(path)
    assert response.status_code == 200
    policy = policy_of(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["img-src"][:2] == ["'self'", "data:"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"][0] == "'self'"
    assert policy["frame-ancestors"] == ["'none'"]
    assert "unsafe" not in response["Content-Security-Policy"]


def test_the_sign_in_page_and_the_api_carry_the_policy_and_the_other_headers(db):
    for path in ("/accounts/login/", "/api/v1/apps"):
        response = client_for(None).get(path)
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_no_page_has_an_inline_script_or_style(manager):
    for path in ("/apps/", "/apps/support-bot/", "/apps/support-bot/chat/", "/apps/support-bot/requests/"):
        html = client_for(manager).get(path).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert "<style" not in html
        assert " style=" not in html


@pytest.mark.parametrize(
    "path", ["/apps/", "/apps/support-bot/requests/", "/apps/support-bot/requests/import/"]
)
def test_htmx_neither_evaluates_code_nor_injects_its_indicator_style(manager, path):
    html = client_for(manager).get(path).content.decode()
    # htmx reads only the first htmx-config meta.
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", html)[1])
    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False
    assert config["includeIndicatorStyles"] is False


def swaps(config: dict, status: int) -> bool:
    """What htmx does with an answer of `status`: the first responseHandling entry that matches."""
    for rule in config["responseHandling"]:
        if re.search(rule["code"], str(status)):
            return rule["swap"]
    return False


def test_htmx_swaps_a_form_error_in_place_but_never_an_error_page(manager):
    html = client_for(manager).get("/apps/").content.decode()
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", html)[1])
    assert [status for status in (200, 400, 409, 422) if swaps(config, status)] == [200, 400, 409, 422]
    # A 403 or 404 page would replace a fragment with a whole page; a 5xx has nothing to show.
    assert not [status for status in (204, 403, 404, 429, 500, 502) if swaps(config, status)]


def test_the_api_docs_page_loads_its_start_up_script_by_url(manager):
    response = client_for(manager).get("/api/docs/")
    assert response.status_code == 200
    policy = policy_of(response)
    assert "'unsafe-inline'" not in policy["script-src"]
    html = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    script_url = re.search(r'<script src="(/api/docs/\?[^"]+)"', html)[1].replace("&amp;", "&")
    script = client_for(manager).get(script_url)
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


def test_http_is_redirected_to_https_except_the_health_check(settings, db):
    settings.SECURE_SSL_REDIRECT = True
    client = client_for(None)
    response = client.get("/accounts/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/"
    assert client.get("/healthz").status_code in (200, 503)
    assert client.get("/accounts/login/", secure=True).status_code == 200


def test_https_answers_carry_hsts(settings, db):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    response = client_for(None).get("/accounts/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
