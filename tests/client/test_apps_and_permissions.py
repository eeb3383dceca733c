"""reviewapp.client against a real server (pytest-django's live_server), over real HTTP."""

import pytest

from reviewapp.accounts.models import ApiToken
from reviewapp.catalog.models import Level
from reviewapp.client import ApiError, Client, PermissionLevel


def test_a_manager_lists_reads_and_updates_apps(client_as, app, manager, transactional_db):
    client = client_as(manager)
    assert [(a["slug"], a["level"]) for a in client.list_apps()] == [
        ("support-bot", PermissionLevel.CAN_MANAGE)
    ]
    updated = client.update_app("support-bot", version="2", reasons=["wrong", "slow"])
    assert updated["version"] == "2" and updated["reasons"] == ["wrong", "slow"]
    assert client.get_app(updated)["versions"][0]["version"] == "2"


def test_a_manager_creates_and_deletes_an_app(client_as, app, manager, transactional_db, settings):
    settings.APP_CREATORS = "managers"
    client = client_as(manager)
    created = client.create_app(
        "Docs assistant",
        adapter="http",
        adapter_config={"url": "http://127.0.0.1:9/v1/chat/completions", "kind": "openai", "model": "m"},
        timeout_seconds=20,
    )
    assert created["slug"] == "docs-assistant" and created["level"] == PermissionLevel.CAN_MANAGE
    assert client.get_permissions(created) == [
        {"principal": "manager@example.com", "type": "user", "level": "CAN_MANAGE"}
    ]
    client.delete_app(created)
    with pytest.raises(ApiError) as exc:
        client.get_app("docs-assistant")
    assert exc.value.status == 404


def test_set_and_get_permissions_mirror_the_reference_sdk(
    client_as, app, manager, group_querier, transactional_db
):
    client = client_as(manager)
    client.set_permissions(app="support-bot", principals=["new@example.com", "group:support-team"],
                           level=PermissionLevel.CAN_VIEW)  # fmt: skip
    assert {(p["principal"], p["level"]) for p in client.get_permissions("support-bot")} == {
        ("manager@example.com", "CAN_MANAGE"),
        ("new@example.com", "CAN_VIEW"),
        ("group:support-team", "CAN_VIEW"),
    }
    remaining = client.set_permissions("support-bot", "new@example.com", PermissionLevel.NONE)
    assert "new@example.com" not in {p["principal"] for p in remaining}
    assert app.level_for(group_querier) == Level.CAN_VIEW
    assert app.audit.count() == 3


def test_errors_come_back_as_api_errors_with_the_json_body(client_as, app, manager, transactional_db):
    client = client_as(manager)
    with pytest.raises(ApiError) as exc:
        client.set_permissions("support-bot", ["someone@example.com"], "CAN_FLY")
    assert exc.value.status == 400
    assert "unknown permission level 'CAN_FLY'" in exc.value.body["level"][0]
    with pytest.raises(ApiError) as exc:
        client.set_permissions("support-bot", ["manager@example.com"], PermissionLevel.NONE)
    assert exc.value.status == 400 and "without a manager" in exc.value.body["level"][0]


def test_others_get_404_or_403_as_the_matrix_says(client_as, app, outsider, viewer, transactional_db):
    with pytest.raises(ApiError) as exc:
        client_as(outsider).get_app("support-bot")
    assert exc.value.status == 404
    with pytest.raises(ApiError) as exc:
        client_as(viewer).set_permissions("support-bot", ["viewer@example.com"], PermissionLevel.CAN_MANAGE)
    assert exc.value.status == 403
    assert client_as(viewer).get_app("support-bot")["level"] == "CAN_VIEW"


def test_review_instructions_round_trip(client_as, app, manager, viewer, transactional_db):
    client = client_as(manager)
    assert client.get_review_instructions("support-bot")["version"] is None
    assert client.set_review_instructions("support-bot", "Check **every** source.")["version"] == 1
    read = client_as(viewer).get_review_instructions("support-bot")
    assert (read["version"], read["markdown"]) == (1, "Check **every** source.")
    assert "<strong>every</strong>" in read["html"]


def test_a_revoked_token_fails_on_its_next_call(live_server, app, manager, transactional_db):
    token, raw = ApiToken.issue(user=manager, name="script")
    client = Client(live_server.url, token=raw)
    assert client.list_apps()
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=token.created_at)
    with pytest.raises(ApiError) as exc:
        client.list_apps()
    assert exc.value.status == 401
    assert exc.value.body == {"detail": "This API token has been revoked"}
