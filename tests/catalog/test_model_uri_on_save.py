"""Saving an MLflow-model app resolves its URI in the tracking store; the registry's version is its label.

A URI that names nothing is refused by its field, in the form and the API, before anything is saved,
rather than failing at the first chat.
"""

import json

import pytest

from reviewapp.catalog import services
from reviewapp.catalog.models import App, AppVersion
from reviewapp.chains.mlflow_setup import configure
from tests.catalog.helpers import patch

HX = {"HX-Request": "true"}


def create(client, config, **fields):
    body = {"name": "Docs bot", "slug": "docs-bot", "adapter": "mlflow", "adapter_config": config, **fields}
    return client.post("/api/v1/apps", json.dumps(body), content_type="application/json")


def settings_form(**changes) -> dict:
    return {
        "form": "app",
        "name": "Support bot",
        "adapter": "mlflow",
        "version": "1",
        "timeout_seconds": "60",
    } | changes


@pytest.fixture
def second_version(demo_model_uri, demo_version):
    """Another registry version of the demo model (the same artifacts), moved back to after the test."""
    mlflow = configure()
    client = mlflow.MlflowClient()
    name = demo_model_uri.removeprefix("models:/").split("@")[0]
    source = client.get_model_version(name, demo_version)
    made = client.create_model_version(name, source.source, run_id=source.run_id)
    yield name, str(made.version)
    client.set_registered_model_alias(name, "champion", demo_version)
    client.delete_model_version(name, made.version)


def test_a_missing_registry_version_is_refused_by_the_api_naming_the_field(as_user, staff, demo_model_uri):
    name = demo_model_uri.removeprefix("models:/").split("@")[0]

    response = create(as_user(staff), {"model_uri": f"models:/{name}/999"})

    assert response.status_code == 400
    [message] = response.json()["adapter_config.model_uri"]
    assert message.startswith(f"models:/{name}/999 is not in the model registry:")
    assert "version=999" in message
    assert not App.objects.filter(slug="docs-bot").exists()


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("models:/no-such-model/1", "is not in the model registry"),
        ("models:/no-such-model@prod", "is not in the model registry"),
        ("models:/no-such-model/latest", "is not in the model registry"),
        ("runs:/0123456789abcdef0123456789abcdef/chain", "not found"),
    ],
)
def test_a_uri_that_names_no_model_is_refused_and_nothing_is_saved(as_user, app, manager, uri, words):
    client = as_user(manager)

    api = patch(client, {"adapter": "mlflow", "adapter_config": {"model_uri": uri}})
    page = client.post(f"/apps/{app.slug}/settings/", settings_form(model_uri=uri), headers=HX)

    assert api.status_code == 400 and words in api.json()["adapter_config.model_uri"][0]
    assert page.status_code == 400
    assert words in page.context["app_form"].errors["model_uri"][0]
    app.refresh_from_db()
    assert app.adapter == App.Adapter.DEMO
    assert not AppVersion.objects.filter(app=app).exists()


def test_a_run_without_a_model_at_that_path_is_refused(as_user, manager, app, demo_run_uri):
    run_id = demo_run_uri.removeprefix("runs:/").split("/")[0]

    response = patch(
        as_user(manager), {"adapter": "mlflow", "adapter_config": {"model_uri": f"runs:/{run_id}/nope"}}
    )

    assert response.status_code == 400
    assert response.json()["adapter_config.model_uri"] == [
        f"runs:/{run_id}/nope is not a model: run {run_id} has no MLflow model at 'nope'"
    ]


def test_a_tracking_store_that_refuses_connections_is_a_clear_error_not_a_500(
    as_user, manager, app, unreachable_store, monkeypatch
):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # refused at once, not after the deadline

    response = patch(
        as_user(manager), {"adapter": "mlflow", "adapter_config": {"model_uri": "models:/docs/1"}}
    )

    assert response.status_code == 400
    assert response.json()["adapter_config.model_uri"] == [
        "the model URI could not be checked: the MLflow tracking store did not answer"
    ]
    app.refresh_from_db()
    assert app.adapter == App.Adapter.DEMO


def test_an_alias_saves_the_version_it_points_at_and_history_records_it(
    as_user, staff, demo_model_uri, demo_version
):
    response = create(as_user(staff), {"model_uri": demo_model_uri})

    assert response.status_code == 201
    body = response.json()
    assert body["version"] == demo_version
    assert body["adapter_config"] == {"model_uri": demo_model_uri}  # the alias is kept, not pinned
    assert list(AppVersion.objects.filter(app__slug="docs-bot").values_list("version", "adapter")) == [
        (demo_version, "mlflow")
    ]


def test_saving_unchanged_settings_after_the_alias_moved_keeps_the_label_until_the_new_version_is_given(
    as_user, app, manager, demo_model_uri, demo_version, second_version
):
    client = as_user(manager)
    assert (
        patch(client, {"adapter": "mlflow", "adapter_config": {"model_uri": demo_model_uri}}).status_code
        == 200
    )
    name, newer = second_version
    configure().MlflowClient().set_registered_model_alias(name, "champion", newer)

    page = client.post(
        f"/apps/{app.slug}/settings/",
        settings_form(model_uri=demo_model_uri, version=demo_version),
        headers=HX,
    )
    app.refresh_from_db()
    kept = app.version
    followed = patch(client, {"version": newer})

    assert page.status_code == 200 and kept == demo_version
    assert followed.status_code == 200 and followed.json()["version"] == newer
    assert list(app.versions.values_list("version", flat=True)) == [newer, demo_version]


def test_a_version_given_with_a_registry_uri_must_be_the_registrys(as_user, app, manager, second_version):
    name, newer = second_version
    client = as_user(manager)

    wrong = patch(
        client,
        {"adapter": "mlflow", "adapter_config": {"model_uri": f"models:/{name}/{newer}"}, "version": "7"},
    )
    right = patch(
        client,
        {"adapter": "mlflow", "adapter_config": {"model_uri": f"models:/{name}/{newer}"}, "version": newer},
    )
    later = patch(client, {"version": "8"})

    assert wrong.status_code == 400
    assert wrong.json()["version"] == [
        f"models:/{name}/{newer} is version {newer} in the model registry, and an app on a registry model "
        "takes its version label from there; leave the version out, or point the model URI at the version "
        "you mean"
    ]
    assert right.status_code == 200 and right.json()["version"] == newer
    assert later.status_code == 400 and "version" in later.json()
    app.refresh_from_db()
    assert app.version == newer


def test_the_settings_form_follows_the_registry_when_the_version_is_left_as_it_was_and_shows_it_read_only(
    as_user, app, manager, demo_model_uri, demo_version
):
    client = as_user(manager)

    response = client.post(
        f"/apps/{app.slug}/settings/",
        settings_form(model_uri=demo_model_uri, version=app.version),
        headers=HX,
    )

    assert response.status_code == 200
    app.refresh_from_db()
    assert app.version == demo_version
    page = client.get(f"/apps/{app.slug}/settings/").content.decode()
    assert f'name="version" value="{demo_version}"' in page
    assert "readonly" in page.split('name="version"')[1].split(">")[0]
    assert "the model's version in the registry" in page


def test_a_version_typed_in_the_form_that_is_not_the_registrys_gets_the_apis_error(
    as_user, app, manager, demo_model_uri, demo_version
):
    client = as_user(manager)

    page = client.post(
        f"/apps/{app.slug}/settings/", settings_form(model_uri=demo_model_uri, version="my-label"), headers=HX
    )
    api = patch(
        client, {"adapter": "mlflow", "adapter_config": {"model_uri": demo_model_uri}, "version": "my-label"}
    )

    assert page.status_code == 400 and api.status_code == 400
    assert page.context["app_form"].errors["version"] == api.json()["version"]
    assert "readonly" not in page.content.decode().split('name="version"')[1].split(">")[0]
    app.refresh_from_db()
    assert (app.adapter, app.version) == (App.Adapter.DEMO, "1")


def test_moving_from_a_registry_uri_to_a_run_asks_for_a_label_of_its_own_in_an_editable_field(
    as_user, registry_app, manager, demo_run_uri, demo_version
):
    client = as_user(manager)
    app = registry_app

    left = client.post(
        f"/apps/{app.slug}/settings/", settings_form(model_uri=demo_run_uri, version=demo_version), headers=HX
    )
    given = client.post(
        f"/apps/{app.slug}/settings/",
        settings_form(model_uri=demo_run_uri, version="run-2024-06"),
        headers=HX,
    )

    assert left.status_code == 400
    assert left.context["app_form"].errors["version"] == [
        "the version label came from the model registry: give this chain a label of its own"
    ]
    assert "readonly" not in left.content.decode().split('name="version"')[1].split(">")[0]
    assert given.status_code == 200
    assert "readonly" not in given.content.decode().split('name="version"')[1].split(">")[0]
    app.refresh_from_db()
    assert (app.adapter_config, app.version) == ({"model_uri": demo_run_uri}, "run-2024-06")


def test_a_run_uri_keeps_the_label_the_manager_gives(as_user, staff, demo_run_uri):
    response = create(as_user(staff), {"model_uri": demo_run_uri}, version="2024-06-rc1")

    assert response.status_code == 201
    assert response.json()["version"] == "2024-06-rc1"


def test_the_service_refuses_a_missing_model_for_any_caller(staff, db):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        services.create_app(
            actor=staff,
            slug="x",
            name="X",
            adapter="mlflow",
            adapter_config={"model_uri": "models:/nothing/1"},
        )

    assert "adapter_config.model_uri" in refused.value.message_dict
    assert not App.objects.filter(slug="x").exists()
