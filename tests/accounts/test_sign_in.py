"""The sign-in pages: local accounts (email + password), the SSO button, sign-up, sign-out."""

import pytest
from django.test import Client

from reviewapp.accounts.models import User
from tests.conftest import PASSWORD
from tests.oidc_provider import OIDCProvider, use_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def idp():
    provider = OIDCProvider().start()
    yield provider
    provider.stop()


def sign_in_with_password(email: str, password: str = PASSWORD, **extra):
    client = Client()
    response = client.post("/accounts/login/", {"login": email, "password": password, **extra})
    return client, response


def test_the_sign_in_page_offers_only_local_accounts_without_oidc(settings):
    settings.OIDC_ENABLED = False
    page = Client().get("/accounts/login/").content.decode()
    assert 'name="login"' in page and 'name="password"' in page
    assert "Sign in with" not in page
    assert "/accounts/oidc/" not in page


def test_the_sign_in_page_offers_sso_when_oidc_is_configured(settings, idp):
    use_provider(settings, idp)
    page = Client().get("/accounts/login/?next=/apps/").content.decode()
    assert idp.authorize_requests == []  # showing the page does not start a sign-in
    assert "Sign in with Example IdP" in page
    assert 'action="/accounts/oidc/oidc/login/"' in page
    assert 'name="next" value="/apps/"' in page
    assert 'name="password"' in page  # local accounts stay for admins


def test_a_local_account_signs_in_with_email_and_password(outsider):
    client, response = sign_in_with_password("Outsider@Example.com")
    assert (response.status_code, response["Location"]) == (302, "/")
    assert client.session["_auth_user_id"] == str(outsider.pk)
    assert b"outsider@example.com" in client.get("/apps/").content


def test_a_wrong_password_is_refused_with_a_message(outsider):
    client, response = sign_in_with_password("outsider@example.com", "wrong")
    assert response.status_code == 200
    assert b"not correct" in response.content
    assert "_auth_user_id" not in client.session


def test_a_deactivated_account_is_refused(outsider):
    outsider.is_active = False
    outsider.save()
    client, response = sign_in_with_password("outsider@example.com")
    assert (response.status_code, response["Location"]) == (302, "/accounts/inactive/")
    assert "_auth_user_id" not in client.session
    assert b"This account is deactivated" in client.get("/accounts/inactive/").content


def test_a_placeholder_cannot_sign_in_with_a_password():
    User.objects.placeholder("someone@example.com")
    client, response = sign_in_with_password("someone@example.com", "")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_deactivating_a_user_ends_their_open_session(outsider, as_user):
    client = as_user(outsider)
    assert client.get("/apps/").status_code == 200
    User.objects.filter(pk=outsider.pk).update(is_active=False)
    response = client.get("/apps/")
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/?next=/apps/")


def test_sign_up_is_closed_by_default(settings):
    settings.ACCOUNT_ALLOW_SIGNUPS = False
    assert b"Sign-up is closed" in Client().get("/accounts/signup/").content
    Client().post("/accounts/signup/", {"email": "new@example.com", "password1": "a-long-password-1"})
    assert not User.objects.filter(email="new@example.com").exists()


def test_sign_up_works_when_allowed(settings):
    settings.ACCOUNT_ALLOW_SIGNUPS = True
    client = Client()
    assert b"Create an account" in client.get("/accounts/signup/").content
    response = client.post(
        "/accounts/signup/", {"email": "new@example.com", "password1": "a-long-password-1"}
    )
    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert client.session["_auth_user_id"] == str(user.pk)


def test_sign_out(outsider, as_user):
    client = as_user(outsider)
    assert b"Sign out" in client.get("/accounts/logout/").content
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_a_staff_admin_signs_in_locally_even_with_sso_configured(settings, staff, idp):
    use_provider(settings, idp)
    client, response = sign_in_with_password("admin@example.com")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_a_staff_admin_manages_users_groups_and_tokens_in_the_admin(staff, outsider, as_user):
    from reviewapp.accounts.models import ApiToken

    ApiToken.issue(user=outsider, name="laptop")
    client = as_user(staff)
    for url in (
        "/admin/accounts/user/",
        f"/admin/accounts/user/{outsider.pk}/change/",
        "/admin/accounts/user/add/",
        "/admin/accounts/group/",
        "/admin/accounts/apitoken/",
    ):
        assert client.get(url).status_code == 200, url
    response = client.post(
        "/admin/accounts/user/", {"action": "deactivate", "_selected_action": [outsider.pk, staff.pk]}
    )
    assert response.status_code == 302
    outsider.refresh_from_db()
    staff.refresh_from_db()
    assert (outsider.is_active, staff.is_active) == (False, True)  # never locks yourself out
    assert User.objects.filter(pk=outsider.pk).exists()


def test_nobody_changes_their_own_email(outsider, as_user):
    client = as_user(outsider)
    assert client.get("/accounts/email/").status_code == 404
    response = client.post("/accounts/email/", {"action_add": "", "email": "ceo@example.com"})
    assert response.status_code == 404
    outsider.refresh_from_db()
    assert outsider.email == "outsider@example.com"


def test_a_password_reset_without_a_mail_server_is_not_a_500(outsider, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens on the discard port
    response = Client().post("/accounts/password/reset/", {"email": "outsider@example.com"})
    assert response.status_code == 302
