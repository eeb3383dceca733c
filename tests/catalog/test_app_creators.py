"""Who may create apps: staff only by default; APP_CREATORS=managers lets app managers create too."""

import json
import os
import subprocess
import sys

import pytest

from reviewapp.catalog.models import App

BODY = {"name": "Docs bot", "slug": "docs-bot"}


def create_via_api(client):
    return client.post("/api/v1/apps", json.dumps(BODY), content_type="application/json")


def test_by_default_only_staff_create_apps(as_user, app, staff, manager, querier):
    for user in (manager, querier):
        client = as_user(user)
        assert "New app" not in client.get("/apps/").content.decode()
        assert client.get("/apps/new/").status_code == 403
        refused = create_via_api(client)
        assert refused.status_code == 403
        assert refused.json()["detail"] == "Only staff can create apps"
    assert not App.objects.filter(slug="docs-bot").exists()

    assert "New app" in as_user(staff).get("/apps/").content.decode()
    assert create_via_api(as_user(staff)).status_code == 201


def test_with_app_creators_managers_a_manager_of_an_app_creates_one(as_user, app, manager, querier, settings):
    settings.APP_CREATORS = "managers"

    client = as_user(manager)
    assert "New app" in client.get("/apps/").content.decode()
    assert client.get("/apps/new/").status_code == 200
    assert create_via_api(client).status_code == 201
    assert App.objects.get(slug="docs-bot").created_by == manager

    refused = create_via_api(as_user(querier))
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Only staff and managers of an app can create apps"


@pytest.mark.parametrize(("value", "ok"), [("managers", True), (" Staff ", True), ("everyone", False)])
def test_app_creators_is_checked_at_start_up(tmp_path, value, ok):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
         "print(settings.APP_CREATORS)"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "reviewapp.settings",
             "VAR_DIR": str(tmp_path), "APP_CREATORS": value},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if ok:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == value.strip().lower()
    else:
        assert result.returncode != 0
        assert "APP_CREATORS must be staff or managers, not 'everyone'" in result.stderr
