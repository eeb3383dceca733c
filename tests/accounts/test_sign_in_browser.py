"""Single sign-on in a real browser: our sign-in page → the loopback IdP → back, signed in."""

import pytest

from reviewapp.accounts.models import User
from reviewapp.catalog.models import Level
from tests import factories
from tests.oidc_provider import OIDCProvider, use_provider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def provider(settings):
    idp = OIDCProvider().start()
    idp.user = {"sub": "u-42", "email": "lin@example.com", "email_verified": True, "name": "Lin Wu"}
    idp.id_token_only = {"groups": ["support-team"]}
    use_provider(settings, idp)
    yield idp
    idp.stop()


def test_a_reviewer_signs_in_with_sso_and_sees_the_app_granted_to_their_group(page_for, provider):
    app = factories.make_app("docs-bot", name="Docs bot")
    factories.grant(app, factories.make_group("support-team"), Level.CAN_QUERY)
    granted_by_email = factories.make_app("faq-bot", name="FAQ bot")
    factories.grant(granted_by_email, User.objects.placeholder("lin@example.com"), Level.CAN_VIEW)

    page = page_for(None)
    page.goto("/apps/")
    assert "/accounts/login/" in page.url
    page.get_by_role("button", name="Sign in with Example IdP").click()
    page.wait_for_url("**/apps/")

    assert page.get_by_test_id("signed-in-as").inner_text() == "lin@example.com"
    assert page.get_by_text("Docs bot").first.is_visible()
    assert page.get_by_text("FAQ bot").first.is_visible()
    assert provider.token_requests[-1]["code_verifier"]
    assert User.objects.filter(email="lin@example.com").count() == 1


def test_a_refused_domain_sees_why(page_for, provider, settings):
    settings.OIDC_ALLOWED_DOMAINS = ["example.org"]
    page = page_for(None)
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Sign in with Example IdP").click()
    page.get_by_test_id("sso-refused").wait_for()
    assert "example.com cannot sign in here" in page.get_by_test_id("sso-refused").inner_text()
    assert page.get_by_test_id("signed-in-as").count() == 0
