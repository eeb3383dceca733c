"""The tracking store is asked only when the chain changes, and never for longer than the deadline.

A store that does not answer must not hold a web worker (MLflow's client retries for minutes), and
an edit that leaves the chain as it is (a rename) must not depend on the store at all.
"""

import json
import time

from reviewapp.catalog import rules
from reviewapp.catalog.models import App, AppVersion

HX = {"HX-Request": "true"}


def settings_form(app: App, **changes) -> dict:
    return {
        "form": "app",
        "name": app.name,
        "adapter": app.adapter,
        "model_uri": app.adapter_config.get("model_uri", ""),
        "version": app.version,
        "timeout_seconds": str(app.timeout_seconds),
    } | changes


def test_a_store_that_does_not_answer_is_given_up_on_at_the_deadline_and_nothing_is_saved(
    as_user, app, manager, unreachable_store
):
    started = time.monotonic()
    response = as_user(manager).patch(
        f"/api/v1/apps/{app.slug}",
        json.dumps({"adapter": "mlflow", "adapter_config": {"model_uri": "models:/docs@prod"}}),
        content_type="application/json",
    )
    waited = time.monotonic() - started

    assert response.status_code == 400
    assert response.json()["adapter_config.model_uri"] == [
        f"the model URI could not be checked: the MLflow tracking store did not answer within "
        f"{rules.CHECK_SECONDS} s"
    ]
    assert rules.CHECK_SECONDS <= waited < 15
    app.refresh_from_db()
    assert app.adapter == App.Adapter.DEMO
    assert not AppVersion.objects.filter(app=app).exists()


def test_renaming_a_registry_app_through_the_form_does_not_ask_the_store_and_keeps_the_version(
    as_user, registry_app, manager, demo_version, unreachable_store
):
    client = as_user(manager)

    started = time.monotonic()
    page = client.post(
        f"/apps/{registry_app.slug}/settings/", settings_form(registry_app, name="Renamed"), headers=HX
    )
    patched = client.patch(
        f"/api/v1/apps/{registry_app.slug}",
        json.dumps({"name": "Renamed again", "adapter_config": registry_app.adapter_config}),
        content_type="application/json",
    )
    waited = time.monotonic() - started

    assert page.status_code == 200 and patched.status_code == 200
    assert waited < 5
    registry_app.refresh_from_db()
    assert (registry_app.name, registry_app.version) == ("Renamed again", demo_version)
    assert not AppVersion.objects.filter(app=registry_app).exists()


def test_changing_the_uri_through_the_form_still_checks_it(as_user, registry_app, manager, demo_model_uri):
    missing = "models:/reviewapp-demo/999"

    page = as_user(manager).post(
        f"/apps/{registry_app.slug}/settings/", settings_form(registry_app, model_uri=missing), headers=HX
    )

    assert page.status_code == 400
    assert "is not in the model registry" in page.context["app_form"].errors["model_uri"][0]
    registry_app.refresh_from_db()
    assert registry_app.adapter_config == {"model_uri": demo_model_uri}
