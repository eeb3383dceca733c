"""A runs:/ URI names a folder among that run's artifacts, and nothing else on the server.

An app manager is not staff: a path that leaves the run's artifacts (or hides a way out) is refused
when the app is saved, by the form and the API alike, and again at chat time for a row saved before
the rule, so no model outside the run is ever listed or loaded, and no answer says what is there.
"""

import json
import os
from pathlib import Path

import mlflow.pyfunc
import pytest

from reviewapp.catalog.models import App, AppVersion
from reviewapp.chains.base import ChainError
from reviewapp.chains.mlflow_setup import configure
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import run_turn

HX = {"HX-Request": "true"}
RUN = "{run}"


class LeavesAMark(mlflow.pyfunc.PythonModel):
    """A model that writes a file when it is loaded: the code an attacker's MLmodel would run."""

    def __init__(self, mark: str):
        self.mark = mark

    def load_context(self, context):
        Path(self.mark).write_text("loaded")

    def predict(self, context, model_input):
        return ["loaded"]


@pytest.fixture
def run_id(demo_run_uri) -> str:
    return demo_run_uri.removeprefix("runs:/").split("/")[0]


@pytest.fixture
def model_outside_the_run(run_id, tmp_path):
    """(runs:/ URI reaching a model outside the run's artifacts through "..", the file its loading writes)."""
    from mlflow.utils.file_utils import local_file_uri_to_path

    mark = tmp_path / "loaded"
    mlflow.pyfunc.save_model(str(tmp_path / "elsewhere"), python_model=LeavesAMark(str(mark)))
    artifacts = local_file_uri_to_path(configure().MlflowClient().get_run(run_id).info.artifact_uri)
    Path(artifacts).mkdir(parents=True, exist_ok=True)  # ".." needs a folder to climb out of
    uri = f"runs:/{run_id}/{os.path.relpath(tmp_path / 'elsewhere', artifacts)}"
    # MLflow itself follows the path out of the run: the URI would reach the model.
    assert any(f.path.endswith("MLmodel") for f in mlflow.artifacts.list_artifacts(artifact_uri=uri))
    return uri, mark


REFUSED_PATHS = {
    "up and out": f"runs:/{RUN}/../../../elsewhere",
    "down then out": f"runs:/{RUN}/demo_chain/../../../../../../etc",
    "absolute": f"runs:/{RUN}//etc",
    "percent-encoded dots": f"runs:/{RUN}/%2e%2e/%2e%2e/etc",
    "backslashes": f"runs:/{RUN}/demo_chain\\..\\..\\etc",
    "a colon": f"runs:/{RUN}/file:/etc",
    "a control character": f"runs:/{RUN}/demo\x1bchain",
    "a very long path": f"runs:/{RUN}/{'a' * 1900}",
}


@pytest.mark.parametrize("uri", REFUSED_PATHS.values(), ids=REFUSED_PATHS.keys())
def test_a_run_path_that_could_leave_the_runs_artifacts_is_refused_by_the_form_and_the_api(
    as_user, app, manager, staff, run_id, uri, settings
):
    uri = uri.replace(RUN, run_id)
    config = {"adapter": "mlflow", "adapter_config": {"model_uri": uri}}

    page = as_user(manager).post(
        f"/apps/{app.slug}/settings/",
        {"form": "app", "name": "Support bot", "adapter": "mlflow", "model_uri": uri, "version": "1",
         "timeout_seconds": "60"},
        headers=HX,
    )  # fmt: skip
    patched = as_user(manager).patch(
        f"/api/v1/apps/{app.slug}", json.dumps(config), content_type="application/json"
    )
    created = as_user(staff).post(
        "/api/v1/apps", json.dumps({"name": "X", "slug": "x", **config}), content_type="application/json"
    )

    assert page.status_code == 400 and patched.status_code == 400 and created.status_code == 400
    [shown] = page.context["app_form"].errors["model_uri"]
    assert patched.json()["adapter_config.model_uri"] == created.json()["adapter_config.model_uri"] == [shown]
    assert "not a model URI" in shown and "no '..'" in shown
    for leak in ("Errno", settings.MLFLOW_ARTIFACT_ROOT, "/tmp"):
        assert leak not in shown
    app.refresh_from_db()
    assert app.adapter == App.Adapter.DEMO
    assert not AppVersion.objects.filter(app=app).exists()
    assert not App.objects.filter(slug="x").exists()


@pytest.mark.parametrize(
    "uri",
    [
        "runs:/0123abcd/demo_chain",  # a run id is 32 hex characters
        "runs:/0123456789abcdef0123456789abcdeg/demo_chain",
        "models:/../1",
        "models:/.hidden@champion",
        "models:/a%2f..%2fb/1",
        f"models:/{'m' * 300}/1",
        "models:/reviewapp-demo@champ.ion",
    ],
)
def test_a_model_name_alias_or_run_id_outside_the_safe_forms_is_refused_before_any_lookup(
    as_user, app, manager, uri
):
    response = as_user(manager).patch(
        f"/api/v1/apps/{app.slug}",
        json.dumps({"adapter": "mlflow", "adapter_config": {"model_uri": uri}}),
        content_type="application/json",
    )

    assert response.status_code == 400
    [message] = response.json()["adapter_config.model_uri"]
    assert "is not a model URI; use models:/name/version, models:/name@alias or runs:/run_id/path" in message


def test_a_run_path_is_normalised_before_it_is_checked(as_user, staff, demo_run_uri):
    run_id = demo_run_uri.removeprefix("runs:/").split("/")[0]

    response = as_user(staff).post(
        "/api/v1/apps",
        json.dumps(
            {"name": "X", "slug": "x", "adapter": "mlflow", "adapter_config": {"model_uri": f"runs:/{run_id}/./demo_chain/"}, "version": "r1"}
        ),
        content_type="application/json",
    )  # fmt: skip

    assert response.status_code == 201


def test_a_uri_saved_before_the_rule_fails_the_turn_at_chat_time_without_loading_anything(
    app, querier, model_outside_the_run
):
    uri, mark = model_outside_the_run
    App.objects.filter(pk=app.pk).update(adapter=App.Adapter.MLFLOW, adapter_config={"model_uri": uri})
    app.refresh_from_db()

    turn = run_turn(app=app, user=querier, source="review_app", messages=[{"role": "user", "content": "hi"}])

    assert isinstance(turn.error, ChainError)
    assert "not a model URI" in str(turn.error)
    assert Request.objects.get(pk=turn.request.pk).status == Request.Status.ERROR
    assert not mark.exists()
