import pytest
from django.core.exceptions import ValidationError

from reviewapp.accounts.models import Group, User
from reviewapp.catalog import services
from reviewapp.catalog.models import App, Grant, Level, PermissionAudit
from tests import factories


def put(client, principals, level, slug="support-bot"):
    return client.put(
        f"/api/v1/apps/{slug}/permissions",
        {"principals": principals, "level": level},
        content_type="application/json",
    )


def audit_rows(app):
    return list(app.audit.order_by("id").values_list("actor_email", "principal", "before", "after"))


def test_granting_a_never_seen_email_makes_a_placeholder_account_and_an_audit_row(as_user, app, manager):
    response = put(as_user(manager), ["New.Person@Example.com"], "CAN_QUERY")
    assert response.status_code == 200
    assert {"principal": "new.person@example.com", "type": "user", "level": "CAN_QUERY"} in (
        response.json()["permissions"]
    )
    user = User.objects.get(email="new.person@example.com")
    assert user.is_placeholder
    assert app.level_for(user) == Level.CAN_QUERY
    assert audit_rows(app) == [("manager@example.com", "new.person@example.com", "NONE", "CAN_QUERY")]


def test_a_change_and_a_removal_are_each_audited_with_before_and_after(as_user, app, manager, viewer):
    client = as_user(manager)
    assert put(client, ["viewer@example.com"], "CAN_QUERY").status_code == 200
    assert put(client, ["viewer@example.com"], "NONE").status_code == 200
    assert not Grant.objects.filter(app=app, user=viewer).exists()
    assert audit_rows(app) == [
        ("manager@example.com", "viewer@example.com", "CAN_VIEW", "CAN_QUERY"),
        ("manager@example.com", "viewer@example.com", "CAN_QUERY", "NONE"),
    ]
    row = app.audit.first()
    assert row.actor == manager and row.app_slug == "support-bot" and row.created_at


def test_setting_the_level_someone_already_has_writes_no_audit_row(as_user, app, manager, viewer):
    assert put(as_user(manager), ["viewer@example.com"], "CAN_VIEW").status_code == 200
    assert not app.audit.exists()


def test_removing_someone_without_a_grant_changes_nothing(as_user, app, manager):
    assert put(as_user(manager), ["stranger@example.com", "group:nobody"], "NONE").status_code == 200
    assert not User.objects.filter(email="stranger@example.com").exists()
    assert not Group.objects.filter(name="nobody").exists()
    assert not app.audit.exists()


def test_a_group_grant_applies_to_its_members_and_its_removal_takes_it_away(
    as_user, app, manager, group_querier
):
    client = as_user(manager)
    assert put(client, ["group:support-team"], "CAN_MANAGE").status_code == 200
    assert app.level_for(group_querier) == Level.CAN_MANAGE
    assert put(client, ["group:support-team"], "NONE").status_code == 200
    assert app.level_for(group_querier) == Level.NONE
    assert as_user(group_querier).get("/apps/support-bot/").status_code == 404
    assert [r[1:] for r in audit_rows(app)] == [
        ("group:support-team", "CAN_QUERY", "CAN_MANAGE"),
        ("group:support-team", "CAN_MANAGE", "NONE"),
    ]


def test_a_group_not_seen_yet_is_created_so_it_can_be_granted_before_its_members_sign_in(
    as_user, app, manager
):
    assert put(as_user(manager), ["group:Data Science"], "CAN_VIEW").status_code == 200
    group = Group.objects.get(name="Data Science")
    member = factories.make_user("ds@example.com")
    member.scim_groups.add(group)
    assert app.level_for(member) == Level.CAN_VIEW


def test_the_effective_level_is_the_highest_of_own_and_group_grants(app, group_querier):
    factories.grant(app, group_querier, Level.CAN_VIEW)
    assert app.level_for(group_querier) == Level.CAN_QUERY
    assert App.objects.visible_to(group_querier).get().level == Level.CAN_QUERY


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"principals": ["viewer@example.com"], "level": "CAN_FLY"}, "level"),
        ({"principals": ["viewer@example.com"], "level": 7}, "level"),
        ({"principals": ["not an email"], "level": "CAN_VIEW"}, "principals"),
        ({"principals": ["team:support"], "level": "CAN_VIEW"}, "principals"),
        ({"principals": ["group:"], "level": "CAN_VIEW"}, "principals"),
        ({"principals": ["a" * 250 + "@example.com"], "level": "CAN_VIEW"}, "principals"),
        ({"principals": ["group:" + "g" * 201], "level": "CAN_VIEW"}, "principals"),
        ({"principals": [7], "level": "CAN_VIEW"}, "principals"),
        ({"principals": ["ok@example.com", "bad"], "level": "CAN_VIEW"}, "principals"),
        ({"principals": [], "level": "CAN_VIEW"}, "principals"),
        ({"principals": "viewer@example.com", "level": "CAN_VIEW"}, "principals"),
        ({"level": "CAN_VIEW"}, "principals"),
        ({"principals": ["viewer@example.com"]}, "level"),
        ({"principals": ["viewer@example.com"], "level": "CAN_VIEW", "role": "x"}, "role"),
    ],
)
def test_bad_permission_bodies_are_400_naming_the_field_and_change_nothing(
    as_user, app, manager, viewer, body, field
):
    response = as_user(manager).put(
        "/api/v1/apps/support-bot/permissions", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert field in response.json()
    assert not app.audit.exists()
    assert not User.objects.filter(email="ok@example.com").exists()
    assert app.level_for(viewer) == Level.CAN_VIEW


def test_a_non_json_body_is_400(as_user, app, manager):
    response = as_user(manager).put(
        "/api/v1/apps/support-bot/permissions", "principals=x", content_type="application/json"
    )
    assert response.status_code == 400
    assert "detail" in response.json()


@pytest.mark.parametrize("level", ["CAN_QUERY", "NONE"])
def test_the_last_manager_cannot_be_removed_or_downgraded(as_user, app, manager, level):
    response = put(as_user(manager), ["manager@example.com"], level)
    assert response.status_code == 400
    assert "without a manager" in response.json()["level"][0]
    assert app.level_for(manager) == Level.CAN_MANAGE
    assert not app.audit.exists()


def test_staff_cannot_remove_the_last_manager_either(as_user, app, manager, staff):
    assert put(as_user(staff), ["manager@example.com"], "NONE").status_code == 400
    assert app.level_for(manager) == Level.CAN_MANAGE


def test_a_manager_may_step_down_once_someone_else_manages(as_user, app, manager, querier):
    client = as_user(manager)
    assert put(client, ["querier@example.com"], "CAN_MANAGE").status_code == 200
    assert put(client, ["manager@example.com"], "CAN_VIEW").status_code == 200
    assert app.level_for(manager) == Level.CAN_VIEW


def test_a_group_of_active_members_counts_as_a_manager(as_user, app, manager, group_querier):
    client = as_user(manager)
    assert put(client, ["group:support-team"], "CAN_MANAGE").status_code == 200
    assert put(client, ["manager@example.com"], "NONE").status_code == 200
    # The group's only member is deactivated: the group alone cannot keep the app managed.
    group_querier.is_active = False
    group_querier.save(update_fields=["is_active"])
    factories.grant(app, factories.make_user("m2@example.com"), Level.CAN_MANAGE)
    assert (
        put(as_user(User.objects.get(email="m2@example.com")), ["m2@example.com"], "NONE").status_code == 400
    )


def test_the_service_validates_everything_before_changing_anything(app, manager):
    with pytest.raises(ValidationError) as exc:
        services.set_permissions(actor=manager, app=app, principals=["a@example.com", "??"], level="CAN_VIEW")
    assert "principals" in exc.value.message_dict
    assert not User.objects.filter(email="a@example.com").exists()
    assert not PermissionAudit.objects.exists()


def test_deleting_an_app_keeps_an_audit_row_for_every_grant_it_had(
    as_user, app, manager, viewer, group_querier
):
    assert as_user(manager).delete("/api/v1/apps/support-bot").status_code == 204
    rows = PermissionAudit.objects.filter(app_slug="support-bot")
    assert sorted(rows.values_list("principal", "before", "after")) == [
        ("group:support-team", "CAN_QUERY", "NONE"),
        ("manager@example.com", "CAN_MANAGE", "NONE"),
        ("viewer@example.com", "CAN_VIEW", "NONE"),
    ]
    assert all(row.actor_email == "manager@example.com" for row in rows)


def test_a_deleted_app_is_gone_for_everyone_but_its_records_are_kept(as_user, app, manager, staff):
    logged = factories.make_request(app)
    assert as_user(manager).delete("/api/v1/apps/support-bot").status_code == 204
    for user in (manager, staff):
        assert as_user(user).get("/api/v1/apps/support-bot").status_code == 404
        assert as_user(user).get("/apps/support-bot/").status_code == 404
        assert as_user(user).get("/api/v1/apps").json() == []
    app.refresh_from_db()
    assert app.deleted_at is not None and not app.grants.exists()
    assert logged.__class__.objects.filter(pk=logged.pk, app=app).exists()
    # The slug is free again.
    created = as_user(staff).post("/api/v1/apps", {"name": "Support bot"}, content_type="application/json")
    assert created.status_code == 201 and created.json()["slug"] == "support-bot"


def test_the_one_audit_writer_names_the_actor_or_the_system_and_the_levels(app, manager):
    by_person = PermissionAudit.objects.record(
        actor=manager, app=app, principal="a@example.com", before=Level.NONE, after=Level.CAN_VIEW
    )
    by_system = PermissionAudit.objects.record(
        actor=None, system="SCIM provisioning", app=app, principal="group:x", before=3, after=Level.NONE
    )

    assert (by_person.actor_email, by_person.app_slug, by_person.before, by_person.after) == (
        "manager@example.com",
        "support-bot",
        "NONE",
        "CAN_VIEW",
    )
    assert (by_system.actor, by_system.actor_email, by_system.before) == (
        None,
        "SCIM provisioning",
        "CAN_MANAGE",
    )
