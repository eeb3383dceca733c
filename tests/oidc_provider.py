"""A real OpenID Connect provider on loopback, for tests (Authlib's joserfc + http.server).

It serves discovery, /authorize (auto-approves `provider.user`, requires a PKCE S256
challenge), /token (checks the client secret, the redirect URI and the PKCE verifier; answers
with an RS256-signed ID token), /jwks and /userinfo. Knobs for the unhappy paths:
`signing_key` (sign with a key that /jwks does not publish) and `advertised_issuer`.
"""

import base64
import functools
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey


@functools.cache
def rsa_key(kid: str = "test-key", variant: int = 0) -> RSAKey:
    """A 2048-bit signing key, made once per (kid, variant) per test run: generating is slow."""
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OIDCProvider:
    def __init__(self, client_id: str = "reviewapp-test", client_secret: str = "test-secret"):
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = rsa_key()
        self.signing_key = self.key
        self.advertised_issuer: str | None = None
        # Claims of the person who "signs in" at /authorize; tests change them freely.
        self.user: dict = {}
        self.id_token_only: dict = {}
        self.authorize_requests: list[dict] = []
        self.token_requests: list[dict] = []
        self._codes: dict[str, dict] = {}
        self._access_tokens: dict[str, dict] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "OIDCProvider":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def configuration(self) -> dict:
        return {
            "issuer": self.advertised_issuer or self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "scopes_supported": ["openid", "email", "profile"],
        }

    # --- endpoints: each returns (status, headers, body dict) ---

    def authorize(self, params: dict) -> tuple[int, dict, dict]:
        self.authorize_requests.append(params)
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id") != self.client_id or not redirect_uri:
            return 400, {}, {"error": "invalid_client"}
        error = None
        if params.get("response_type") != "code" or "openid" not in params.get("scope", "").split():
            error = "unsupported_response_type"
        elif not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
            error = "invalid_request"  # PKCE is required here
        if error:
            query = {"error": error, "state": params.get("state", "")}
            return 302, {"Location": f"{redirect_uri}?{urlencode(query)}"}, {}
        code = secrets.token_urlsafe(24)
        self._codes[code] = {
            "redirect_uri": redirect_uri,
            "challenge": params["code_challenge"],
            "nonce": params.get("nonce"),
            "claims": dict(self.user),
        }
        query = {"code": code, "state": params.get("state", "")}
        return 302, {"Location": f"{redirect_uri}?{urlencode(query)}"}, {}

    def token(self, form: dict, authorization: str) -> tuple[int, dict, dict]:
        self.token_requests.append(form)
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return 401, {}, {"error": "invalid_client"}
        grant = self._codes.pop(form.get("code", ""), None)  # codes are single use
        if form.get("grant_type") != "authorization_code" or grant is None:
            return 400, {}, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {}, {"error": "invalid_grant", "error_description": "redirect_uri differs"}
        if s256(form.get("code_verifier", "")) != grant["challenge"]:
            return 400, {}, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        now = int(time.time())
        claims = {
            "iss": self.advertised_issuer or self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            **grant["claims"],
            **self.id_token_only,
        }
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        header = {"alg": "RS256", "kid": self.signing_key.kid}
        id_token = jwt.encode(header, claims, self.signing_key)
        access_token = secrets.token_urlsafe(24)
        self._access_tokens[access_token] = grant["claims"]
        body = {"access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}
        return 200, {}, body

    def userinfo(self, authorization: str) -> tuple[int, dict, dict]:
        claims = self._access_tokens.get(authorization.removeprefix("Bearer ").strip())
        if claims is None:
            return 401, {"WWW-Authenticate": "Bearer"}, {"error": "invalid_token"}
        return 200, {}, claims

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def reply(self, status: int, headers: dict, body: dict) -> None:
                data = json.dumps(body).encode() if body else b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                auth = self.headers.get("Authorization", "")
                if url.path == "/.well-known/openid-configuration":
                    self.reply(200, {}, provider.configuration())
                elif url.path == "/jwks":
                    self.reply(200, {}, {"keys": [provider.key.as_dict(private=False)]})
                elif url.path == "/authorize":
                    self.reply(*provider.authorize(params))
                elif url.path == "/userinfo":
                    self.reply(*provider.userinfo(auth))
                else:
                    self.reply(404, {}, {"error": "not_found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlparse(self.path).path == "/token":
                    self.reply(*provider.token(form, self.headers.get("Authorization", "")))
                else:
                    self.reply(404, {}, {"error": "not_found"})

        return Handler


def use_provider(settings, provider: OIDCProvider, **overrides) -> None:
    """Point the app's OIDC settings (pytest-django `settings` fixture) at `provider`."""
    settings.OIDC_ENABLED = True
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_CLIENT_ID = provider.client_id
    settings.OIDC_CLIENT_SECRET = provider.client_secret
    settings.OIDC_NAME = "Example IdP"
    settings.OIDC_ALLOWED_DOMAINS = []
    settings.OIDC_GROUPS_CLAIM = "groups"
    # As settings.py does from OIDC_ISSUER: browsers check the sign-in form's redirect to the
    # provider against form-action.
    settings.SECURE_CSP = {**settings.SECURE_CSP, "form-action": ["'self'", provider.issuer]}
    for name, value in overrides.items():
        setattr(settings, name, value)


def sign_in(client, provider: OIDCProvider, start: str = "/accounts/oidc/oidc/login/"):
    """Follow the redirect dance: Django test client for our side, real HTTP for the provider's.

    Returns the last response from our side (the one that does not send us on).
    """
    import requests

    response = client.post(start)
    for _ in range(10):
        location = response.get("Location", "") if response.status_code in (301, 302, 303) else ""
        if location.startswith(provider.issuer):
            at_provider = requests.get(location, allow_redirects=False, timeout=10)
            assert at_provider.status_code == 302, at_provider.text
            back = urlparse(at_provider.headers["Location"])
            response = client.get(f"{back.path}?{back.query}")
        elif location.startswith("/accounts/"):
            response = client.get(location)
        else:
            return response
    raise AssertionError("too many redirects")
