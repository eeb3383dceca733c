import json

import pytest

from reviewapp.catalog.models import App, AppVersion, Level
from tests import factories

HX = {"HX-Request": "true"}


def post_json(client, path, body, method="post"):
    return getattr(client, method)(path, json.dumps(body), content_type="application/json")


def test_the_creator_becomes_the_apps_manager_with_an_audit_row_and_a_version_row(
    as_user, app, staff, demo_model_uri, demo_version
):
    response = post_json(
        as_user(staff),
        "/api/v1/apps",
        {"name": "Docs assistant", "adapter": "mlflow", "adapter_config": {"model_uri": demo_model_uri}},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["slug"] == "docs-assistant"
    assert body["level"] == "CAN_MANAGE"
    assert body["adapter_config"] == {"model_uri": demo_model_uri}
    assert body["versions"][0]["version"] == body["version"] == demo_version
    created = App.objects.get(slug="docs-assistant")
    assert created.created_by == staff
    assert created.level_for(staff) == Level.CAN_MANAGE
    assert list(created.audit.values_list("principal", "before", "after")) == [
        ("admin@example.com", "NONE", "CAN_MANAGE")
    ]


def test_staff_who_create_an_app_are_granted_it_too(as_user, staff):
    assert post_json(as_user(staff), "/api/v1/apps", {"name": "X", "slug": "x-bot"}).status_code == 201
    assert App.objects.get(slug="x-bot").grants.get().user == staff


def test_an_http_endpoint_keeps_only_the_name_of_the_secrets_variable(as_user, staff):
    config = {
        "url": "http://127.0.0.1:9000/v1/chat/completions",
        "kind": "openai",
        "model": "llama3",
        "secret_header": "Authorization",
        "secret_env": "CHAIN_SECRET_DOCS_BOT",
    }
    response = post_json(
        as_user(staff), "/api/v1/apps", {"name": "Remote", "adapter": "http", "adapter_config": config}
    )
    assert response.status_code == 201
    assert App.objects.get(slug="remote").adapter_config == config


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "New", "slug": "new"}, "slug"),
        ({"name": "Bad slug", "slug": "has spaces"}, "slug"),
        ({"slug": "nameless"}, "name"),
        ({"name": "X", "adapter": "carrier-pigeon"}, "adapter"),
        ({"name": "X", "adapter": "mlflow", "adapter_config": {}}, "adapter_config.model_uri"),
        ({"name": "X", "adapter": "mlflow", "adapter_config": {"model_uri": "s3://bucket/model"}},
         "adapter_config.model_uri"),
        ({"name": "X", "adapter": "http", "adapter_config": {}}, "adapter_config.url"),
        ({"name": "X", "adapter": "http", "adapter_config": {"url": "ftp://x"}}, "adapter_config.url"),
        ({"name": "X", "adapter": "http", "adapter_config": {"url": "http://h", "kind": "grpc"}},
         "adapter_config.kind"),
        ({"name": "X", "adapter": "http", "adapter_config": {"url": "http://h", "secret": "sk-123"}},
         "adapter_config.secret"),
        ({"name": "X", "adapter": "http",
          "adapter_config": {"url": "http://h", "secret_header": "Authorization", "secret_env": "Bearer sk-123"}},
         "adapter_config.secret_env"),
        ({"name": "X", "adapter": "http", "adapter_config": {"url": "http://h", "secret_header": "Authorization"}},
         "adapter_config.secret_env"),
        ({"name": "X", "timeout_seconds": 0}, "timeout_seconds"),
        ({"name": "X", "timeout_seconds": "soon"}, "timeout_seconds"),
        ({"name": "X", "reasons": "wrong"}, "reasons"),
        ({"name": "X", "reasons": ["x" * 101]}, "reasons"),
        ({"name": "X", "owner": "me"}, "owner"),
        ({"name": "X", "description": "d" * 10_001}, "description"),
        ({"name": "X", "adapter_config": []}, "adapter_config"),
        ({"name": "X", "adapter": "mlflow", "adapter_config": {"model_uri": {"nested": 1}}},
         "adapter_config.model_uri"),
    ],
)  # fmt: skip
def test_bad_app_bodies_are_400_naming_the_field_and_create_nothing(as_user, app, staff, body, field):
    response = post_json(as_user(staff), "/api/v1/apps", body)
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert App.objects.count() == 1


def test_a_taken_slug_is_a_409_naming_it_and_creates_nothing(as_user, app, staff):
    response = post_json(as_user(staff), "/api/v1/apps", {"name": "Support bot", "slug": "support-bot"})
    assert response.status_code == 409
    assert "already exists" in response.json()["slug"][0]
    assert App.objects.count() == 1


def test_a_secret_in_the_adapter_settings_is_refused_with_the_way_to_do_it(as_user, staff):
    body = {"name": "X", "adapter": "http", "adapter_config": {"url": "http://h", "api_key": "sk-123"}}
    response = post_json(as_user(staff), "/api/v1/apps", body)
    assert "environment variable" in response.json()["adapter_config.api_key"][0]
    assert "sk-123" not in json.dumps(list(App.objects.values()), default=str)


def test_changing_the_version_or_the_adapter_adds_a_history_row_and_other_edits_do_not(
    as_user, app, manager, demo_model_uri, demo_version
):
    client = as_user(manager)
    patch = lambda body: post_json(client, "/api/v1/apps/support-bot", body, method="patch")  # noqa: E731
    assert patch({"description": "Answers questions"}).status_code == 200
    assert not AppVersion.objects.filter(app=app).exists()
    assert patch({"version": "2"}).json()["versions"][0]["version"] == "2"
    response = patch({"adapter": "mlflow", "adapter_config": {"model_uri": demo_model_uri}})
    assert response.status_code == 200
    assert list(AppVersion.objects.filter(app=app).values_list("version", "adapter")) == [
        (demo_version, "mlflow"),
        ("2", "demo"),
    ]
    assert patch({"version": demo_version}).status_code == 200
    assert patch({"description": "Still answers"}).status_code == 200
    assert AppVersion.objects.filter(app=app).count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "renamed"}, "slug"),
        ({"name": ""}, "name"),
        ({"timeout_seconds": 601}, "timeout_seconds"),
        ({"adapter": "http"}, "adapter_config.url"),
        ({"version": ""}, "version"),
    ],
)
def test_bad_patches_are_400_and_change_nothing(as_user, app, manager, body, field):
    response = post_json(as_user(manager), "/api/v1/apps/support-bot", body, method="patch")
    assert response.status_code == 400
    assert field in response.json()
    app.refresh_from_db()
    assert (app.slug, app.name, app.adapter, app.timeout_seconds) == (
        "support-bot",
        "Support bot",
        "demo",
        60,
    )


def test_managers_edit_the_feedback_reasons(as_user, app, manager):
    response = post_json(
        as_user(manager),
        "/api/v1/apps/support-bot",
        {"reasons": ["  outdated ", "rude", "outdated", "", "Other"]},
        method="patch",
    )
    assert response.json()["reasons"] == ["outdated", "rude"]


def test_the_app_list_shows_only_visible_apps_with_the_users_level(as_user, app, querier):
    other = factories.make_app("hidden-bot")
    viewed = factories.make_app("viewed-bot")
    factories.grant(viewed, querier, Level.CAN_VIEW)
    response = as_user(querier).get("/apps/")
    body = response.content.decode()
    assert [a.slug for a in response.context["apps"]] == ["support-bot", "viewed-bot"]
    assert other.slug not in body
    assert ">Can query</span>" in body and ">Can view</span>" in body
    assert "CAN_QUERY" not in body and "CAN_VIEW" not in body
    api = as_user(querier).get("/api/v1/apps").json()
    assert [(a["slug"], a["level"]) for a in api] == [
        ("support-bot", "CAN_QUERY"),
        ("viewed-bot", "CAN_VIEW"),
    ]


def test_the_new_app_button_shows_only_to_those_who_may_create(as_user, app, staff, manager, querier):
    assert "New app" in as_user(staff).get("/apps/").content.decode()
    assert "New app" not in as_user(manager).get("/apps/").content.decode()
    assert "New app" not in as_user(querier).get("/apps/").content.decode()


def test_creating_an_app_in_the_browser_redirects_to_its_settings(as_user, app, staff):
    response = as_user(staff).post(
        "/apps/new/",
        {"name": "Docs helper", "slug": "", "adapter": "demo", "version": "1", "timeout_seconds": "30",
         "reasons": "wrong\nslow"},
    )  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == "/apps/docs-helper/settings/"
    assert App.objects.get(slug="docs-helper").reasons == ["wrong", "slow"]


def test_a_bad_create_form_shows_the_error_by_the_field_and_keeps_what_was_typed(as_user, app, staff):
    response = as_user(staff).post(
        "/apps/new/",
        {"name": "Remote bot", "adapter": "http", "endpoint_url": "localhost:9000", "endpoint_kind": "openai",
         "secret_env": "sk-live-123", "secret_header": "Authorization", "version": "7", "timeout_seconds": "30"},
    )  # fmt: skip
    assert response.status_code == 400
    form = response.context["form"]
    assert "must be an http:// or https:// URL" in form.errors["endpoint_url"][0]
    assert "NAME of an environment variable" in form.errors["secret_env"][0]
    body = response.content.decode()
    assert 'value="localhost:9000"' in body and 'value="Remote bot"' in body
    assert not App.objects.filter(name="Remote bot").exists()


def test_settings_saved_over_htmx_return_the_form_fragment(as_user, app, manager, demo_run_uri):
    response = as_user(manager).post(
        "/apps/support-bot/settings/",
        {"form": "app", "name": "Support bot", "description": "Helps", "adapter": "mlflow",
         "model_uri": demo_run_uri, "version": "3", "timeout_seconds": "45", "reasons": "wrong"},
        headers=HX,
    )  # fmt: skip
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="app-form"')
    assert "Saved" in body
    app.refresh_from_db()
    assert (app.adapter, app.adapter_config, app.version, app.timeout_seconds) == (
        "mlflow",
        {"model_uri": demo_run_uri},
        "3",
        45,
    )
    assert app.versions.first().version == "3"


def test_deleting_needs_the_slug_typed_to_confirm(as_user, app, manager):
    client = as_user(manager)
    response = client.post("/apps/support-bot/delete/", {"confirm": "support"})
    assert response.status_code == 400
    assert "Type support-bot exactly" in response.content.decode()
    assert App.objects.filter(slug="support-bot").exists()
    assert client.post("/apps/support-bot/delete/", {"confirm": "support-bot"})["Location"] == "/apps/"
    assert not App.objects.filter(slug="support-bot").exists()


def test_the_tabs_follow_the_users_level(as_user, app, viewer, manager):
    viewer_page = as_user(viewer).get("/apps/support-bot/").content.decode()
    manager_page = as_user(manager).get("/apps/support-bot/").content.decode()
    for link in ('href="/apps/support-bot/permissions/"', 'href="/apps/support-bot/settings/"'):
        assert link not in viewer_page
        assert link in manager_page
    assert 'href="/apps/support-bot/" aria-current="page"' in viewer_page


def test_reviewers_get_the_chat_and_queue_tabs_and_managers_the_rest(as_user, app, querier, manager):
    querier_page = as_user(querier).get("/apps/support-bot/").content.decode()
    manager_page = as_user(manager).get("/apps/support-bot/").content.decode()
    for tab in ("chat/", "queues/"):
        assert f'href="/apps/support-bot/{tab}"' in querier_page
    for tab in ("requests/", "dashboard/", "curate/"):
        assert f'href="/apps/support-bot/{tab}"' not in querier_page
        assert f'href="/apps/support-bot/{tab}"' in manager_page
