import hashlib
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from reviewapp.accounts.models import ApiToken


def bearer(raw: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {raw}"})


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.get("/settings/tokens/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_new_token_is_shown_once_and_stored_only_as_its_hash(as_user, querier):
    client = as_user(querier)
    response = client.post("/settings/tokens/", {"name": "nightly export"})
    assert response.status_code == 200
    raw = response.context["new_token"]
    assert raw.startswith("rvw_") and raw in response.content.decode()

    token = ApiToken.objects.get(user=querier)
    assert token.name == "nightly export"
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    stored = [
        str(value)
        for value in ApiToken.objects.values_list(*[f.attname for f in ApiToken._meta.fields]).get()
    ]
    assert not any(raw in value for value in stored)

    again = client.get("/settings/tokens/").content.decode()
    assert raw not in again
    assert token.hint in again


def test_htmx_create_returns_the_tokens_fragment(as_user, querier):
    response = as_user(querier).post("/settings/tokens/", {"name": "ci"}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="tokens-section"')
    assert "<html" not in body
    assert response.context["new_token"] in body


def test_an_empty_name_is_a_form_error_and_creates_nothing(as_user, querier):
    response = as_user(querier).post("/settings/tokens/", {"name": "  "}, headers={"HX-Request": "true"})
    assert response.status_code == 400  # swapped in all the same (base.html)
    assert "This field is required." in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_token_works_until_it_is_revoked_and_its_next_call_is_401(as_user, querier):
    token, raw = ApiToken.issue(user=querier, name="script")
    api = bearer(raw)
    assert api.get("/api/v1/apps").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None

    response = as_user(querier).post(f"/settings/tokens/{token.pk}/revoke/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "is revoked" in response.content.decode()

    refused = api.get("/api/v1/apps")
    assert refused.status_code == 401
    assert refused.json() == {"detail": "This API token has been revoked"}


def test_revoking_without_htmx_redirects_back_to_the_list(as_user, querier):
    token, _raw = ApiToken.issue(user=querier, name="script")
    response = as_user(querier).post(f"/settings/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    assert response["Location"] == "/settings/tokens/"
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_nobody_can_revoke_someone_elses_token(as_user, querier, manager):
    token, raw = ApiToken.issue(user=querier, name="script")
    assert as_user(manager).post(f"/settings/tokens/{token.pk}/revoke/").status_code == 404
    assert bearer(raw).get("/api/v1/apps").status_code == 200


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Bearer rvw_not-a-real-token", "Unknown API token"),
        ("Bearer", "Malformed Authorization header; use 'Bearer <token>'"),
    ],
)
def test_unknown_or_malformed_tokens_are_401(client, db, header, detail):
    response = client.get("/api/v1/apps", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json() == {"detail": detail}


def test_an_expired_token_is_401(querier):
    _token, raw = ApiToken.issue(user=querier, name="old", expires_at=timezone.now() - timedelta(minutes=1))
    response = bearer(raw).get("/api/v1/apps")
    assert response.status_code == 401
    assert response.json() == {"detail": "This API token has expired"}


def test_a_deactivated_users_token_is_401(querier):
    _token, raw = ApiToken.issue(user=querier, name="script")
    querier.is_active = False
    querier.save(update_fields=["is_active"])
    assert bearer(raw).get("/api/v1/apps").status_code == 401


def test_tokens_can_be_created_listed_and_revoked_over_the_api(querier):
    _first, raw = ApiToken.issue(user=querier, name="first")
    api = bearer(raw)
    created = api.post("/api/v1/tokens", {"name": "second"}, content_type="application/json")
    assert created.status_code == 201
    second_raw = created.json()["token"]
    assert bearer(second_raw).get("/api/v1/me").json()["email"] == "querier@example.com"

    listed = api.get("/api/v1/tokens").json()
    assert [t["name"] for t in listed] == ["second", "first"]
    assert all("token" not in t and "token_hash" not in t for t in listed)

    assert api.delete(f"/api/v1/tokens/{created.json()['id']}").status_code == 204
    assert bearer(second_raw).get("/api/v1/me").status_code == 401
    assert api.delete("/api/v1/tokens/999999").status_code == 404


def test_a_token_without_a_name_is_refused_over_the_api(querier):
    _token, raw = ApiToken.issue(user=querier, name="first")
    response = bearer(raw).post("/api/v1/tokens", {}, content_type="application/json")
    assert response.status_code == 400
    assert "name" in response.json()
    assert ApiToken.objects.count() == 1


def test_the_command_prints_a_working_token(querier):
    out = io.StringIO()
    call_command("create_api_token", "QUERIER@example.com", "--name", "ops", stdout=out)
    raw = out.getvalue().strip()
    assert ApiToken.objects.get(user=querier).name == "ops"
    assert bearer(raw).get("/api/v1/me").json()["email"] == "querier@example.com"


def test_the_command_refuses_an_unknown_email(db):
    with pytest.raises(CommandError, match="No user with email 'nobody@example.com'"):
        call_command("create_api_token", "nobody@example.com")
    assert not ApiToken.objects.exists()


def test_a_name_over_the_limit_is_refused_in_the_same_words_by_the_page_and_the_api(as_user, querier):
    client = as_user(querier)

    page = client.post("/settings/tokens/", {"name": "n" * 101}, headers={"HX-Request": "true"})
    api = client.post("/api/v1/tokens", {"name": "n" * 101}, content_type="application/json")

    assert page.status_code == 400 and "at most 100 characters" in page.content.decode()
    assert api.status_code == 400 and api.json() == {"name": ["at most 100 characters"]}
    assert not ApiToken.objects.exists()
