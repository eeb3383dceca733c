"""Single sign-on with OpenID Connect against a real provider on loopback (tests/oidc_provider.py).

Each test drives the whole authorization code flow: our login view redirects to the provider,
the provider auto-approves and redirects back, and our callback exchanges the code over HTTP
(PKCE verifier, client secret), fetches the JWKS and userinfo, and checks the ID token.
"""

import pytest
from django.test import Client

from reviewapp.accounts.models import Group, User
from reviewapp.catalog.models import Level
from tests import factories
from tests.oidc_provider import OIDCProvider, rsa_key, sign_in, use_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(settings):
    idp = OIDCProvider().start()
    idp.user = {
        "sub": "idp-user-1",
        "email": "ada@example.com",
        "email_verified": True,
        "name": "Ada Lovelace",
    }
    use_provider(settings, idp)
    yield idp
    idp.stop()


def signed_in_user(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def assert_refused(provider, status: int, says: bytes) -> None:
    """Signing in is answered `status` with a page that `says` why, and no one is signed in."""
    client = Client()
    response = sign_in(client, provider)
    assert response.status_code == status
    assert says in response.content
    assert signed_in_user(client) is None


def test_first_sign_in_creates_the_user(provider):
    client = Client()
    response = sign_in(client, provider)

    assert (response.status_code, response["Location"]) == (302, "/")
    user = signed_in_user(client)
    assert user is not None
    assert (user.email, user.name, user.is_placeholder) == ("ada@example.com", "Ada Lovelace", False)
    assert not user.has_usable_password()
    assert client.get("/apps/").status_code == 200
    # The flow used PKCE (S256) and our client sent the verifier that matched it.
    assert provider.authorize_requests[-1]["code_challenge_method"] == "S256"
    assert provider.token_requests[-1]["code_verifier"]


def test_signing_in_again_finds_the_same_user(provider):
    sign_in(Client(), provider)
    client = Client()
    sign_in(client, provider)
    assert User.objects.filter(email="ada@example.com").count() == 1
    assert signed_in_user(client).email == "ada@example.com"


def test_sign_in_claims_the_placeholder_and_its_grant_applies(provider):
    app = factories.make_app("docs-bot", name="Docs bot")
    placeholder = User.objects.placeholder("ada@example.com")
    factories.grant(app, placeholder, Level.CAN_QUERY)
    provider.user["email"] = "Ada@Example.com"

    client = Client()
    sign_in(client, provider)

    user = signed_in_user(client)
    assert user.pk == placeholder.pk
    assert not user.is_placeholder
    assert user.name == "Ada Lovelace"
    assert app.level_for(user) == Level.CAN_QUERY
    assert b"Docs bot" in client.get("/apps/").content


def test_sign_in_claims_an_existing_local_account(provider):
    local = factories.make_user("ada@example.com", "pw-for-tests", name="Ada L.")
    client = Client()
    sign_in(client, provider)
    user = signed_in_user(client)
    assert user.pk == local.pk
    assert user.name == "Ada L."  # a name set here is kept
    assert user.check_password("pw-for-tests")


def test_the_groups_claim_sets_membership_on_each_sign_in(provider):
    app = factories.make_app("docs-bot")
    team = factories.make_group("support-team")
    factories.grant(app, team, Level.CAN_QUERY)
    provider.id_token_only = {"groups": ["support-team", "/engineering"]}

    client = Client()
    sign_in(client, provider)
    user = signed_in_user(client)
    assert sorted(g.name for g in user.scim_groups.all()) == ["engineering", "support-team"]
    assert Group.objects.get(name="engineering").source == Group.Source.OIDC
    assert app.level_for(user) == Level.CAN_QUERY

    # Next sign-in: the IdP no longer lists engineering; support-team was made here, so it stays.
    provider.id_token_only = {"groups": ["research"]}
    sign_in(Client(), provider)
    assert sorted(g.name for g in user.scim_groups.all()) == ["research", "support-team"]

    # No groups claim at all: membership is left as it is.
    provider.id_token_only = {}
    sign_in(Client(), provider)
    assert sorted(g.name for g in user.scim_groups.all()) == ["research", "support-team"]


def test_a_disallowed_domain_is_refused_with_a_clear_message(provider, settings):
    settings.OIDC_ALLOWED_DOMAINS = ["example.com", "example.org"]
    provider.user["email"] = "mallory@elsewhere.net"

    client = Client()
    response = sign_in(client, provider)

    assert response.status_code == 403
    text = response.content.decode()
    assert "elsewhere.net cannot sign in here" in text and "@example.com" in text
    assert signed_in_user(client) is None
    assert not User.objects.filter(email="mallory@elsewhere.net").exists()


def test_an_allowed_domain_signs_in(provider, settings):
    settings.OIDC_ALLOWED_DOMAINS = ["example.com"]
    client = Client()
    assert sign_in(client, provider).status_code == 302
    assert signed_in_user(client).email == "ada@example.com"


def test_an_id_token_with_a_bad_signature_is_refused(provider):
    provider.signing_key = rsa_key(provider.key.kid, variant=1)  # same kid, a key /jwks does not hold

    assert_refused(provider, 400, b"could not sign you in")
    assert not User.objects.exists()


def test_a_discovery_document_for_another_issuer_is_refused(provider):
    provider.advertised_issuer = "https://idp.evil.example"
    assert_refused(provider, 502, b"could not reach Example IdP")


def test_an_unreachable_provider_is_a_502_not_a_500(provider):
    provider.stop()
    response = Client().post("/accounts/oidc/oidc/login/")
    assert response.status_code == 502


def test_sign_in_starts_only_from_a_csrf_protected_post(provider):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/oidc/oidc/login/")
    assert page.status_code == 200 and b"Continue" in page.content
    assert client.post("/accounts/oidc/oidc/login/").status_code == 403
    assert provider.authorize_requests == []


def test_an_unverified_email_is_refused(provider):
    factories.make_user("ada@example.com", "pw-for-tests")
    provider.user["email_verified"] = False
    assert_refused(provider, 403, b"not verified")


@pytest.mark.parametrize("email", [None, "", "not-an-address", "a" * 250 + "@example.com"])
def test_a_missing_or_broken_email_claim_is_refused(provider, email):
    provider.user["email"] = email
    assert_refused(provider, 403, b"did not send an email address")
    assert not User.objects.exists()


def test_a_deactivated_user_cannot_sign_in_with_sso(provider):
    sign_in(Client(), provider)
    User.objects.filter(email="ada@example.com").update(is_active=False)

    assert_refused(provider, 403, b"deactivated")


def test_a_tampered_callback_state_is_refused(provider):
    client = Client()
    response = client.get("/accounts/oidc/oidc/login/callback/?code=abc&state=forged")
    assert response.status_code == 400
    assert signed_in_user(client) is None


def test_sso_routes_are_404_when_oidc_is_not_configured(settings):
    settings.OIDC_ENABLED = False
    assert Client().get("/accounts/oidc/oidc/login/").status_code == 404


def test_a_user_provisioned_over_scim_signs_in_as_themselves(provider, settings):
    from tests.accounts.test_scim import GROUP_SCHEMA, TOKEN, Scim, new_user

    settings.SCIM_TOKEN = TOKEN
    scim = Scim()
    user_id = new_user(scim, "ada@example.com")["id"]
    scim.post(
        "Groups", {"schemas": [GROUP_SCHEMA], "displayName": "reviewers", "members": [{"value": user_id}]}
    )
    provider.id_token_only = {"groups": []}  # SCIM manages this group; sign-in must not undo it

    client = Client()
    sign_in(client, provider)

    user = signed_in_user(client)
    assert user.scim_id == user_id
    assert [g.name for g in user.scim_groups.all()] == ["reviewers"]
