"""Every HTML and API route of apps and permissions, for every persona, with its exact status.

anonymous: not signed in; outsider: no grant; viewer/querier/manager: direct grants;
group_querier: CAN_QUERY only through a group; staff: superuser without any grant.
"""

import json
import re

import pytest

from reviewapp.catalog.models import App

PERSONAS = ["anonymous", "outsider", "viewer", "querier", "group_querier", "manager", "staff"]

# Expected statuses per persona, by what the route needs.
SIGNED_IN = dict.fromkeys(PERSONAS[1:], 200)
VIEW = {"outsider": 404, "viewer": 200, "querier": 200, "group_querier": 200, "manager": 200, "staff": 200}
MANAGE = {"outsider": 404, "viewer": 403, "querier": 403, "group_querier": 403, "manager": 200, "staff": 200}
# Staff only by default (APP_CREATORS=staff); tests/catalog/test_app_creators.py covers "managers".
CREATE = {"outsider": 403, "viewer": 403, "querier": 403, "group_querier": 403, "manager": 403, "staff": 200}


def _expect(rule: dict, persona: str, anonymous: int, ok: int = 200) -> int:
    if persona == "anonymous":
        return anonymous
    status = rule[persona]
    return ok if status == 200 else status


def _user(request, persona):
    request.getfixturevalue("app")
    return None if persona == "anonymous" else request.getfixturevalue(persona)


HTML_ROUTES = [
    # (method, path, data, rule, success status)
    ("get", "/apps/", None, SIGNED_IN, 200),
    ("get", "/apps/new/", None, CREATE, 200),
    ("post", "/apps/new/", {"name": "Docs bot", "slug": "docs-bot", "adapter": "demo", "version": "1",
                            "timeout_seconds": "30", "reasons": "wrong"}, CREATE, 302),
    ("get", "/apps/support-bot/", None, VIEW, 200),
    ("get", "/apps/support-bot/settings/", None, MANAGE, 200),
    ("post", "/apps/support-bot/settings/", {"form": "instructions", "markdown": "Be precise."}, MANAGE, 200),
    ("get", "/apps/support-bot/permissions/", None, MANAGE, 200),
    ("post", "/apps/support-bot/permissions/", {"principals": "new@example.com", "level": "CAN_VIEW"},
     MANAGE, 200),
    ("get", "/apps/support-bot/audit/", None, MANAGE, 200),
    ("get", "/apps/support-bot/delete/", None, MANAGE, 200),
    ("post", "/apps/support-bot/delete/", {"confirm": "support-bot"}, MANAGE, 302),
]  # fmt: skip


API_ROUTES = [
    ("get", "/api/v1/apps", None, SIGNED_IN, 200),
    ("post", "/api/v1/apps", {"name": "Docs bot", "slug": "docs-bot"}, CREATE, 201),
    ("get", "/api/v1/apps/support-bot", None, VIEW, 200),
    ("patch", "/api/v1/apps/support-bot", {"description": "Answers support questions"}, MANAGE, 200),
    ("delete", "/api/v1/apps/support-bot", None, MANAGE, 204),
    ("get", "/api/v1/apps/support-bot/permissions", None, MANAGE, 200),
    ("put", "/api/v1/apps/support-bot/permissions", {"principals": ["new@example.com"], "level": "CAN_VIEW"},
     MANAGE, 200),
    ("get", "/api/v1/apps/support-bot/instructions", None, VIEW, 200),
    ("put", "/api/v1/apps/support-bot/instructions", {"markdown": "Be precise."}, MANAGE, 200),
    ("get", "/api/v1/apps/support-bot/quality", None, MANAGE, 200),
]  # fmt: skip


ROUTES = [("html", *route) for route in HTML_ROUTES] + [("api", *route) for route in API_ROUTES]


def _send(client, kind: str, method: str, path: str, data):
    if kind == "html":
        return getattr(client, method)(path, data or {})
    kwargs = {"data": json.dumps(data), "content_type": "application/json"} if data is not None else {}
    return getattr(client, method)(path, **kwargs)


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("kind", "method", "path", "data", "rule", "ok"), ROUTES, ids=lambda v: None)
def test_each_route_answers_each_persona_with_the_exact_status(
    request, as_user, persona, kind, method, path, data, rule, ok
):
    response = _send(as_user(_user(request, persona)), kind, method, path, data)

    if kind == "html":
        assert response.status_code == _expect(rule, persona, anonymous=302, ok=ok)
        if persona == "anonymous":
            assert response["Location"].startswith("/accounts/login/?next=")
    else:
        assert response.status_code == _expect(rule, persona, anonymous=401, ok=ok)
        if response.status_code >= 400:
            assert "detail" in response.json()


@pytest.mark.parametrize("persona", ["outsider", "viewer", "querier"])
def test_refused_writes_change_nothing(request, as_user, app, persona):
    client = as_user(request.getfixturevalue(persona))
    client.patch("/api/v1/apps/support-bot", {"name": "Hacked"}, content_type="application/json")
    client.put(
        "/api/v1/apps/support-bot/permissions",
        {"principals": [f"{persona}@example.com"], "level": "CAN_MANAGE"},
        content_type="application/json",
    )
    client.post("/apps/support-bot/delete/", {"confirm": "support-bot"})
    app.refresh_from_db()
    assert app.name == "Support bot"
    assert app.grants.filter(level=3).count() == 0
    assert not app.audit.exists()


def test_an_outsider_cannot_tell_a_hidden_app_from_a_missing_one(as_user, app, outsider):
    client = as_user(outsider)
    hidden = client.get("/api/v1/apps/support-bot")
    missing = client.get("/api/v1/apps/no-such-app")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert _without_csrf(client.get("/apps/support-bot/")) == _without_csrf(client.get("/apps/no-such-app/"))


def _without_csrf(response) -> str:
    # The 404 page carries a CSRF token, masked differently on every render.
    html = response.content.decode()
    html = re.sub(r'"x-csrftoken": "[^"]+"', "", html)
    # It names the path asked for, which differs by itself.
    html = html.replace(response.wsgi_request.path, "PATH")
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def test_a_deactivated_user_loses_access(as_user, app, querier):
    client = as_user(querier)
    querier.is_active = False
    querier.save(update_fields=["is_active"])
    assert client.get("/apps/support-bot/").status_code == 302
    assert not App.objects.visible_to(querier).exists()
