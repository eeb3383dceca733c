from reviewapp.accounts.models import User
from reviewapp.catalog.models import Level

HX = {"HX-Request": "true"}
PAGE = "/apps/support-bot/permissions/"


def grant(client, principals: str, level: str, *, htmx: bool = False):
    """The page's form sent: principals as typed, and a level."""
    return client.post(PAGE, {"principals": principals, "level": level}, headers=HX if htmx else {})


def test_the_page_lists_grants_with_levels_and_the_recent_audit(as_user, app, manager, viewer, group_querier):
    body = as_user(manager).get(PAGE).content.decode()
    assert 'data-testid="grant-manager@example.com"' in body
    assert 'data-testid="grant-viewer@example.com"' in body
    assert 'data-testid="grant-group:support-team"' in body
    assert "Full audit log" in body


def test_adding_several_principals_at_once_over_htmx_returns_the_updated_section(as_user, app, manager):
    response = grant(
        as_user(manager), "a@example.com, group:reviewers\nb@example.com", "CAN_QUERY", htmx=True
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="permissions-section"')
    assert "Saved" in body
    for principal in ("a@example.com", "group:reviewers", "b@example.com"):
        assert f'data-testid="grant-{principal}"' in body
    assert app.audit.count() == 3


def test_a_bad_principal_is_a_form_error_that_keeps_what_was_typed(as_user, app, manager):
    response = grant(as_user(manager), "ok@example.com, nonsense", "CAN_QUERY", htmx=True)
    body = response.content.decode()
    assert response.status_code == 400  # swapped in all the same (base.html)
    assert "neither an email address nor group:&lt;name&gt;" in body
    assert 'value="ok@example.com, nonsense"' in body
    assert not User.objects.filter(email="ok@example.com").exists()
    assert not app.audit.exists()


def test_an_unknown_level_is_a_form_error(as_user, app, manager):
    response = grant(as_user(manager), "a@example.com", "CAN_FLY")
    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()
    assert not app.audit.exists()


def test_removing_the_last_manager_is_refused_with_a_clear_message(as_user, app, manager):
    response = grant(as_user(manager), "manager@example.com", "NONE", htmx=True)
    assert response.status_code == 400
    assert "without a manager" in response.content.decode()
    assert app.level_for(manager) == Level.CAN_MANAGE


def test_changing_and_removing_from_the_rows_works_without_javascript(as_user, app, manager, viewer):
    client = as_user(manager)
    grant(client, "viewer@example.com", "CAN_MANAGE")
    assert app.level_for(viewer) == Level.CAN_MANAGE
    grant(client, "viewer@example.com", "NONE")
    assert app.level_for(viewer) == Level.NONE


def test_the_audit_page_shows_who_changed_what(as_user, app, manager):
    client = as_user(manager)
    grant(client, "a@example.com", "CAN_VIEW")
    grant(client, "a@example.com", "CAN_QUERY")
    response = client.get("/apps/support-bot/audit/")
    rows = list(response.context["page"].object_list)
    assert [(r.actor_email, r.principal, r.before, r.after) for r in rows] == [
        ("manager@example.com", "a@example.com", "CAN_VIEW", "CAN_QUERY"),
        ("manager@example.com", "a@example.com", "NONE", "CAN_VIEW"),
    ]
    assert "a@example.com" in response.content.decode()
