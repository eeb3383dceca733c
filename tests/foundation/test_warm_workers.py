"""Web workers load the live apps' MLflow models as they start, so no question waits for a load.

Through real gunicorn (`manage.py serve`) on the embedded default, with a chain whose load takes 3 s.
"""

import datetime as dt
import json
import subprocess
import threading
import time
import urllib.request

import pytest
from django.utils import timezone

from reviewapp.catalog.models import App
from reviewapp.chains import mlflow_model, warmup
from tests import factories
from tests.foundation.helpers import ROOT, free_port, overridden, serving
from tests.foundation.test_serve_command import embedded_env, manage

LOAD_SECONDS = 3
SLOW_MODEL = ROOT / "tests" / "foundation" / "slow_model.py"

SETUP = f"""
from reviewapp.accounts.models import ApiToken, User
from reviewapp.catalog import services
from reviewapp.chains.mlflow_setup import configure

mlflow = configure()
with mlflow.start_run():
    info = mlflow.pyfunc.log_model(name="chain", python_model={str(SLOW_MODEL)!r}, pip_requirements=["mlflow"])
version = mlflow.register_model(info.model_uri, "slow-chain").version
staff = User.objects.create_user("ops@example.com", "pw", is_staff=True, is_superuser=True)
services.create_app(actor=staff, slug="slow", name="Slow", adapter="mlflow",
                    adapter_config={{"model_uri": f"models:/slow-chain/{{version}}"}})
print(ApiToken.issue(user=staff, name="test")[1])
"""


class Output:
    """The serve process's output, read on a thread so a wait for a line can time out."""

    def __init__(self, process: subprocess.Popen, start: str):
        self.text = start
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process):
        for line in process.stdout:
            self.text += line

    def wait_for(self, words: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while words not in self.text:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True


def ask(port: int, token: str) -> tuple[dict, float]:
    body = json.dumps({"messages": [{"role": "user", "content": "Are you warm?"}]}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/apps/slow/invocations",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response), time.monotonic() - started


def last_logged_turn(env: dict) -> dict:
    out = manage(
        env,
        "shell",
        "-c",
        "import json; from reviewapp.requestlog.models import Request; "
        "r = Request.objects.order_by('-created_at').first(); print(json.dumps({'latency_ms': r.latency_ms, 'load_ms': r.load_ms, "
        "'version': r.app_version, 'status': r.status}))",
    )
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def slow_app_env(tmp_path_factory):
    env = embedded_env(tmp_path_factory.mktemp("warm"))
    manage(env, "migrate", "--noinput")
    token = manage(env, "shell", "-c", SETUP, timeout=300).strip().splitlines()[-1]
    return env, token


@pytest.mark.worker
def test_a_started_worker_loads_the_apps_model_before_the_first_question(slow_app_env):
    env, token = slow_app_env
    port = free_port()
    with serving(env, port, "--no-worker") as (serve, banner):
        output = Output(serve, banner)
        assert output.wait_for("warmed models:/slow-chain/1 in", timeout=120), output.text[-3000:]

        answer, seconds = ask(port, token)

    assert answer["response"] == "Loaded once, answered at once."
    assert seconds < LOAD_SECONDS, f"the first question took {seconds:.1f} s"
    turn = last_logged_turn(env)
    assert turn["status"] == "ok"
    assert turn["load_ms"] in (None, 0)
    assert turn["latency_ms"] < LOAD_SECONDS * 1000


@pytest.mark.worker
def test_with_warm_up_off_the_first_question_waits_for_the_load(slow_app_env):
    env, token = slow_app_env
    env = overridden(env, {"CHAIN_WARMUP": "false"})
    port = free_port()
    with serving(env, port, "--no-worker") as (serve, banner):
        output = Output(serve, banner)

        answer, seconds = ask(port, token)

    assert answer["response"] == "Loaded once, answered at once."
    assert seconds >= LOAD_SECONDS
    assert "warmed" not in output.text
    turn = last_logged_turn(env)
    assert turn["load_ms"] >= LOAD_SECONDS * 1000
    assert turn["latency_ms"] < LOAD_SECONDS * 1000


def test_warming_lists_live_mlflow_apps_and_the_demo_chain_once_each(db, demo_model_uri):
    from reviewapp.catalog.models import App
    from reviewapp.chains import warmup
    from tests import factories

    factories.make_app("by-model", adapter=App.Adapter.MLFLOW, adapter_config={"model_uri": "models:/a/1"})
    factories.make_app("same-model", adapter=App.Adapter.MLFLOW, adapter_config={"model_uri": "models:/a/1"})
    factories.make_app("demo-one")
    factories.make_app("remote", adapter=App.Adapter.HTTP, adapter_config={"url": "http://127.0.0.1:9/"})
    gone = factories.make_app("gone", adapter=App.Adapter.MLFLOW, adapter_config={"model_uri": "models:/b/1"})
    gone.deleted_at = gone.created_at
    gone.save(update_fields=["deleted_at"])

    assert sorted(warmup.model_uris()) == sorted(["models:/a/1", demo_model_uri])


def test_a_model_that_cannot_load_is_logged_and_the_others_still_warm(db, demo_model_uri, caplog):
    from reviewapp.chains import warmup

    with caplog.at_level("INFO", logger="reviewapp.chains.warmup"):
        warmed = warmup.warm(["models:/no-such-model/1", demo_model_uri])

    assert len(warmed) == 1 and warmed[0].startswith("models:/reviewapp-demo/")
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith("could not warm models:/no-such-model/1: models:/no-such-model/1 is not in")
    assert messages[1].startswith(f"warmed {warmed[0]} in ")


def test_chain_warmup_off_starts_nothing(settings):
    from reviewapp.chains import warmup

    settings.CHAIN_WARMUP = False

    assert warmup.start_in_background() is None


# A worker keeps only mlflow_model.CACHE_SIZE models, so it warms only that many: those of the apps
# asked most recently, then of the apps changed most recently. More would be loaded only to be evicted.


def mlflow_app(slug: str, uri: str, **extra) -> App:
    return factories.make_app(slug, adapter=App.Adapter.MLFLOW, adapter_config={"model_uri": uri}, **extra)


def asked(app: App, days_ago: int) -> None:
    factories.make_request(app, created_at=timezone.now() - dt.timedelta(days=days_ago))


@pytest.fixture
def cache_of(monkeypatch):
    def set_size(size: int) -> None:
        monkeypatch.setattr(mlflow_model, "CACHE_SIZE", size)

    return set_size


def test_the_apps_asked_last_come_first_then_the_apps_changed_last(db, cache_of):
    cache_of(3)
    now = timezone.now()
    asked(mlflow_app("asked-long-ago", "models:/old/1"), days_ago=30)
    asked(mlflow_app("asked-yesterday", "models:/recent/1"), days_ago=1)
    mlflow_app("never-asked-changed-today", "models:/new/1", updated_at=now)
    mlflow_app("never-asked-changed-last-year", "models:/stale/1", updated_at=now - dt.timedelta(days=365))

    assert warmup.model_uris() == ["models:/recent/1", "models:/old/1", "models:/new/1"]


def test_apps_sharing_a_model_take_one_place(db, cache_of):
    cache_of(2)
    asked(mlflow_app("first", "models:/shared/1"), days_ago=1)
    asked(mlflow_app("second", "models:/shared/1"), days_ago=2)
    asked(mlflow_app("third", "models:/other/1"), days_ago=3)

    assert warmup.model_uris() == ["models:/shared/1", "models:/other/1"]


def test_with_more_apps_than_the_cache_holds_only_the_cache_size_are_loaded(
    db, demo_model_uri, cache_of, caplog
):
    cache_of(1)
    asked(factories.make_app("demo-asked-today"), days_ago=0)
    # Asked earlier: not warmed, so its missing model is never even tried.
    asked(mlflow_app("asked-last-week", "models:/no-such-model/1"), days_ago=7)

    with caplog.at_level("INFO", logger="reviewapp.chains.warmup"):
        warmed = warmup.warm()

    assert len(warmed) == 1 and warmed[0].startswith("models:/reviewapp-demo/")
    assert not any("no-such-model" in record.getMessage() for record in caplog.records)
