"""Login lockout (django-axes) on every password form: allauth's sign-in and the Django admin's.

Failures count per account and client address, in the database; LOGIN_FAILURE_LIMIT (5) wrong
passwords pause that pair for LOGIN_COOLOFF_MINUTES (15).
"""

import copy
import uuid
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from reviewapp import settings as reviewapp_settings
from reviewapp.accounts.models import ApiToken
from tests.conftest import PASSWORD
from tests.oidc_provider import OIDCProvider, sign_in, use_provider

pytestmark = pytest.mark.django_db

SIGN_IN = "/accounts/login/"
ADMIN = "/admin/login/"


def sign_in_with_password(client: Client, email: str, password: str, **extra):
    return client.post(SIGN_IN, {"login": email, "password": password}, **extra)


def admin_sign_in(client: Client, email: str, password: str, **extra):
    return client.post(ADMIN, {"username": email, "password": password, "next": "/admin/"}, **extra)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def assert_lockout_page(response, minutes: int = 15):
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= minutes * 60
    page = response.content.decode()
    assert 'data-testid="lockout"' in page
    assert f"Try again in {minutes} minutes" in page


def lock_out(email: str, **extra) -> Client:
    client = Client()
    for _ in range(5):
        sign_in_with_password(client, email, "wrong", **extra)
    return client


def test_five_wrong_passwords_lock_the_sign_in_form_even_for_the_right_password(outsider):
    client = Client()
    for _ in range(4):
        response = sign_in_with_password(client, "outsider@example.com", "wrong")
        assert response.status_code == 200
        assert b"not correct" in response.content
    assert_lockout_page(sign_in_with_password(client, "outsider@example.com", "wrong"))

    response = sign_in_with_password(client, "outsider@example.com", PASSWORD)

    assert_lockout_page(response)
    assert not signed_in(client)


def test_the_lockout_page_says_when_to_try_again(outsider):
    client = lock_out("outsider@example.com")
    ends_at = AccessAttempt.objects.get().attempt_time + timedelta(minutes=15)

    response = sign_in_with_password(client, "outsider@example.com", PASSWORD)

    assert_lockout_page(response)
    assert f"{ends_at:%H:%M} UTC" in response.content.decode()
    assert abs(int(response["Retry-After"]) - (ends_at - timezone.now()).total_seconds()) <= 2


def test_attempts_while_locked_out_do_not_push_the_end_further(outsider):
    client = lock_out("outsider@example.com")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=10))

    response = sign_in_with_password(client, "outsider@example.com", "wrong")

    assert_lockout_page(response, minutes=5)
    assert int(response["Retry-After"]) <= 5 * 60


def test_the_admin_login_locks_out_too(staff):
    client = Client()
    for _ in range(4):
        assert admin_sign_in(client, "admin@example.com", "wrong").status_code == 200
    assert_lockout_page(admin_sign_in(client, "admin@example.com", "wrong"))

    response = admin_sign_in(client, "admin@example.com", PASSWORD)

    assert_lockout_page(response)
    assert not signed_in(client)


def test_failures_on_both_forms_and_in_any_letter_case_count_together(staff):
    client = Client()
    for _ in range(3):
        sign_in_with_password(client, "Admin@Example.com", "wrong")
    admin_sign_in(client, "ADMIN@example.com", "wrong")
    assert_lockout_page(admin_sign_in(client, "admin@example.com", "wrong"))

    assert_lockout_page(sign_in_with_password(client, "admin@example.com", PASSWORD))
    assert_lockout_page(admin_sign_in(client, "admin@example.com", PASSWORD))


def test_the_same_account_from_another_address_is_not_locked(outsider):
    lock_out("outsider@example.com")
    client = Client()

    response = sign_in_with_password(client, "outsider@example.com", PASSWORD, REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 302
    assert signed_in(client)


def test_another_account_from_the_same_address_signs_in(outsider, staff):
    lock_out("outsider@example.com")
    client = Client()

    assert sign_in_with_password(client, "admin@example.com", PASSWORD).status_code == 302
    assert signed_in(client)
    admin = Client()
    assert admin_sign_in(admin, "admin@example.com", PASSWORD).status_code == 302
    assert signed_in(admin)


def test_sign_in_works_again_after_the_cool_off(outsider):
    lock_out("outsider@example.com")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))
    client = Client()

    response = sign_in_with_password(client, "outsider@example.com", PASSWORD)

    assert response.status_code == 302
    assert signed_in(client)


def test_a_successful_sign_in_clears_earlier_failures(outsider):
    client = Client()
    for _ in range(4):
        sign_in_with_password(client, "outsider@example.com", "wrong")
    assert sign_in_with_password(Client(), "outsider@example.com", PASSWORD).status_code == 302

    for _ in range(4):
        response = sign_in_with_password(client, "outsider@example.com", "wrong")
        assert response.status_code == 200


def test_the_limits_come_from_settings(outsider, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=3)
    client = Client()
    assert sign_in_with_password(client, "outsider@example.com", "wrong").status_code == 200

    assert_lockout_page(sign_in_with_password(client, "outsider@example.com", "wrong"), minutes=3)


def test_an_administrator_lifts_a_lockout_with_a_management_command(outsider):
    lock_out("outsider@example.com")

    call_command("axes_reset_username", "outsider@example.com")

    client = Client()
    assert sign_in_with_password(client, "outsider@example.com", PASSWORD).status_code == 302
    assert signed_in(client)


def test_api_tokens_keep_working_for_a_locked_out_account(outsider):
    _token, raw = ApiToken.issue(user=outsider, name="script")
    lock_out("outsider@example.com")

    response = Client().get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})

    assert response.status_code == 200


def test_single_sign_on_is_not_affected_by_a_local_lockout(outsider, settings):
    idp = OIDCProvider().start()
    try:
        idp.user = {"sub": "idp-outsider", "email": "outsider@example.com", "email_verified": True}
        use_provider(settings, idp)
        client = lock_out("outsider@example.com")

        response = sign_in(client, idp)

        assert (response.status_code, response["Location"]) == (302, "/")
        assert client.session["_auth_user_id"] == str(outsider.pk)
    finally:
        idp.stop()


def test_behind_the_tls_proxy_the_address_is_the_one_the_proxy_appended(outsider, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # What the client claims comes first; the proxy appends the address it saw.
    lock_out("outsider@example.com", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.5")
    assert AccessAttempt.objects.get().ip_address == "203.0.113.5"

    other = Client()
    response = sign_in_with_password(
        other, "outsider@example.com", PASSWORD, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9"
    )
    assert response.status_code == 302

    spoofed = sign_in_with_password(
        Client(),
        "outsider@example.com",
        PASSWORD,
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="203.0.113.9, 203.0.113.5",
    )
    assert_lockout_page(spoofed)


def test_without_a_proxy_x_forwarded_for_is_ignored(outsider, settings):
    settings.SECURE_PROXY_SSL_HEADER = None
    lock_out("outsider@example.com", HTTP_X_FORWARDED_FOR="203.0.113.5")

    response = sign_in_with_password(
        Client(), "outsider@example.com", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9"
    )

    assert_lockout_page(response)
    assert AccessAttempt.objects.get().ip_address == "127.0.0.1"


def test_a_password_check_without_a_request_is_not_a_sign_in_attempt(outsider):
    assert authenticate(email="outsider@example.com", password=PASSWORD) == outsider
    assert authenticate(email="outsider@example.com", password="wrong") is None
    assert not AccessAttempt.objects.exists()


def test_allauths_own_limit_does_not_pause_the_account_from_other_addresses(outsider, settings):
    # The production limits (tests turn allauth's off), counted under a key prefix of this test's own.
    settings.ACCOUNT_RATE_LIMITS = reviewapp_settings.ACCOUNT_RATE_LIMITS
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = f"lockout-test-{uuid.uuid4().hex}"
    settings.CACHES = caches
    lock_out("outsider@example.com", REMOTE_ADDR="10.9.0.1")
    client = Client()

    response = sign_in_with_password(client, "outsider@example.com", PASSWORD, REMOTE_ADDR="10.9.0.2")

    assert response.status_code == 302
    assert signed_in(client)
