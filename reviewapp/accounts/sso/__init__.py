"""Sign-in: django-allauth adapters and our OpenID Connect provider.

- Local accounts (email + password) for the embedded default and admins; sign-up is closed
  unless ALLOW_SIGNUPS.
- OpenID Connect configured only from OIDC_* settings (see `SocialAccountAdapter.list_apps`):
  discovery, authorization code flow with PKCE, and the ID token's signature always checked.
- A first SSO sign-in claims the user with that email (a placeholder granted before they ever
  signed in, or a local account), or creates one; allowed domains and deactivation are checked
  first; the groups claim, when configured, sets membership of the OIDC groups on every sign-in.
"""

import logging
import smtplib

import requests
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.decorators import login_not_required
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialApp, SocialLogin
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from ..models import User

logger = logging.getLogger(__name__)

PROVIDER_ID = "oidc"


def oidc_app() -> SocialApp | None:
    """The OIDC client as configured now (read per request, so tests can override settings)."""
    if not settings.OIDC_ENABLED:
        return None
    return SocialApp(
        provider=OIDCProvider.id,
        provider_id=PROVIDER_ID,
        name=settings.OIDC_NAME,
        client_id=settings.OIDC_CLIENT_ID,
        secret=settings.OIDC_CLIENT_SECRET,
        settings={"server_url": settings.OIDC_ISSUER, "oauth_pkce_enabled": True},
    )


def refuse(request: HttpRequest, reason: str, status: int = 403) -> ImmediateHttpResponse:
    response = render(request, "account/sso_refused.html", {"reason": reason}, status=status)
    return ImmediateHttpResponse(response)


class OIDCAdapter(OpenIDConnectOAuth2Adapter):
    @property
    def openid_config(self) -> dict:
        config = super().openid_config
        # OpenID Connect Discovery §4.3: the document must be about the issuer we were told to trust.
        issuer = self.get_provider().app.settings["server_url"]
        if str(config.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
            raise OAuth2Error(f"discovery names issuer {config.get('issuer')!r}, expected {issuer!r}")
        return config

    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict:
        # allauth skips the signature when the token came straight from the token endpoint
        # (allowed over TLS by OIDC Core §3.1.3.7); we check it always, so a forged or
        # mis-keyed token is refused even behind a TLS-terminating proxy.
        return jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=self.openid_config["jwks_uri"],
            issuer=self.openid_config["issuer"],
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk,
            verify_signature=True,
        )


class OIDCProvider(OpenIDConnectProvider):
    # Our URL patterns (sso/urls.py) route to views built on OIDCAdapter.
    package = "reviewapp.accounts.sso"
    oauth2_adapter_class = OIDCAdapter


def _adapter_view(view_class, request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        view = view_class.adapter_view(OIDCAdapter(request, provider_id))
        return view(request)
    except SocialApp.DoesNotExist:
        raise Http404("Single sign-on is not configured") from None
    except (OAuth2Error, requests.RequestException, ValueError, KeyError) as exc:
        # Discovery failed: the IdP is down, or answers for another issuer. Not the user's fault.
        logger.warning("OIDC discovery at %s failed: %r", settings.OIDC_ISSUER, exc)
        context = {"provider_name": settings.OIDC_NAME, "unreachable": True}
        return render(request, "socialaccount/authentication_error.html", context, status=502)


@login_not_required
def oidc_login(request: HttpRequest, provider_id: str) -> HttpResponse:
    return _adapter_view(OAuth2LoginView, request, provider_id)


@login_not_required
def oidc_callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    return _adapter_view(OAuth2CallbackView, request, provider_id)


def claims_of(sociallogin: SocialLogin) -> dict:
    """ID token claims, overlaid by the userinfo response (which may carry more)."""
    data = sociallogin.account.extra_data or {}
    return {**(data.get("id_token") or {}), **(data.get("userinfo") or {})}


def is_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return len(value) <= User._meta.get_field("email").max_length


def name_from(claims: dict) -> str:
    name = claims.get("name") or " ".join(
        str(claims[k]) for k in ("given_name", "family_name") if claims.get(k)
    )
    return str(name or "")[:200]


def group_names(claims: dict) -> list[str] | None:
    """Names in the groups claim; None when it is not configured or not sent (leave membership)."""
    claim = settings.OIDC_GROUPS_CLAIM
    if not claim or claim not in claims:
        return None
    value = claims[claim]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        logger.warning("OIDC groups claim %r is neither a list nor a string; ignored", claim)
        return None
    # Keycloak sends full paths ("/support-team"); managers grant by the plain name.
    return [item.strip().lstrip("/") for item in value if isinstance(item, str) and item.strip()]


@login_not_required
def email_is_identity(request: HttpRequest) -> HttpResponse:
    """Replaces allauth's email management: the email is who you are here (grants, SSO and SCIM
    match on it), so changing your own would let you take over someone else's future access."""
    raise Http404("Email addresses are managed by single sign-on or an administrator")


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        return settings.ACCOUNT_ALLOW_SIGNUPS

    def send_mail(self, template_prefix, email, context):
        # No mail server is part of the install; a password-reset request must not become a 500.
        try:
            super().send_mail(template_prefix, email, context)
        except (OSError, smtplib.SMTPException) as exc:
            logger.warning(
                "could not send %s mail to %s: %r (configure EMAIL_* settings)", template_prefix, email, exc
            )


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def list_apps(self, request, provider=None, client_id=None):
        """Only the OIDC client from the environment; never apps from the database."""
        app = oidc_app()
        if app is None:
            return []
        if provider and provider not in {app.provider, app.provider_id}:
            return []
        if client_id and client_id != app.client_id:
            return []
        return [app]

    def is_open_for_signup(self, request, sociallogin):
        # Anyone the identity provider vouches for (within OIDC_ALLOWED_DOMAINS) may review.
        return True

    def populate_user(self, request, sociallogin, data):
        user = sociallogin.user
        user.email = (data.get("email") or "").strip().lower()
        user.name = name_from(claims_of(sociallogin))
        return user

    def pre_social_login(self, request, sociallogin):
        claims = claims_of(sociallogin)
        email = str(claims.get("email") or "").strip().lower()
        provider = settings.OIDC_NAME
        if not is_email(email):
            raise refuse(request, f"{provider} did not send an email address, so we cannot tell who you are.")
        # Cognito sends the claim as the string "false".
        if str(claims.get("email_verified")).lower() == "false":
            raise refuse(request, f"{provider} says the address {email} is not verified yet.")
        domain = email.rpartition("@")[2]
        allowed = settings.OIDC_ALLOWED_DOMAINS
        if allowed and domain not in allowed:
            raise refuse(
                request,
                f"Accounts from {domain} cannot sign in here; this server accepts "
                f"{', '.join('@' + d for d in allowed)} addresses.",
            )
        user = sociallogin.user if sociallogin.is_existing else None
        if user is None:
            user = User.objects.filter(email__iexact=email).first()
        if user is not None and not user.is_active:
            raise refuse(request, "This account is deactivated. Ask an administrator if this is a mistake.")
        if user is None:
            return  # a new user: save_user below
        if not sociallogin.is_existing:
            self.claim(user, claims)
            sociallogin.connect(request, user)
        self.sync_groups(user, claims)

    @staticmethod
    def claim(user: User, claims: dict) -> None:
        user.is_placeholder = False
        user.name = user.name or name_from(claims)
        user.save(update_fields=["is_placeholder", "name"])

    @staticmethod
    def sync_groups(user: User, claims: dict) -> None:
        names = group_names(claims)
        if names is not None:
            user.sync_oidc_groups(names)

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form)
        self.sync_groups(user, claims_of(sociallogin))
        return user

    def on_authentication_error(self, request, provider, error=None, exception=None, extra_context=None):
        # The reason (bad signature, wrong issuer, state mismatch) goes to the log, not the page.
        logger.warning("OIDC sign-in failed: %s (%r)", error, exception)
        response = render(
            request,
            "socialaccount/authentication_error.html",
            {"provider_name": settings.OIDC_NAME, "cancelled": error == "cancelled"},
            status=400,
        )
        raise ImmediateHttpResponse(response)
