"""API throttles: 429 with Retry-After and a JSON message past a limit set in settings.

Budgets: `user` counts all of a user's API calls (every token and the session together); the
action scopes count per API token (per user for session calls), writes only.
"""

import json
import secrets
import subprocess
import sys
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from reviewapp import settings as reviewapp_settings
from reviewapp.accounts import throttling
from reviewapp.accounts.models import ApiToken
from reviewapp.lib import env
from tests import factories

pytestmark = pytest.mark.django_db

FEEDBACK = "/api/v1/apps/support-bot/feedback"
ME = "/api/v1/me"


@pytest.fixture(autouse=True)
def rates(throttle_rates):
    return throttle_rates


def token_client(user) -> Client:
    _token, raw = ApiToken.issue(user=user, name=f"token {uuid.uuid4().hex[:6]}")
    return Client(headers={"Authorization": f"Bearer {raw}"}, raise_request_exception=False)


def session_client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def give_feedback(client: Client, req):
    body = {"request_id": str(req.pk), "rating": "positive"}
    return client.post(FEEDBACK, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def req(app, querier):
    return factories.make_request(app, user=querier)


def assert_throttled(response, scope: str, rate: str, per: str):
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 60
    assert response.json() == {
        "detail": f"Too many {scope} requests: the limit is {rate} per {per}. "
        f"Expected available in {wait} second{'s' if wait != 1 else ''}."
    }


def test_feedback_past_its_limit_is_refused_with_retry_after_and_a_json_message(rates, querier, req):
    rates["feedback"] = "2/min"
    client = token_client(querier)
    assert give_feedback(client, req).status_code == 201
    assert give_feedback(client, req).status_code == 200

    assert_throttled(give_feedback(client, req), "feedback", "2/min", "API token")


def test_a_change_of_the_rate_in_settings_applies_at_once(rates, querier, req):
    client = token_client(querier)
    rates["feedback"] = "1/min"
    give_feedback(client, req)
    assert give_feedback(client, req).status_code == 429

    rates["feedback"] = "5/min"
    assert give_feedback(client, req).status_code == 200


def test_each_api_token_has_its_own_action_budget(rates, querier, req):
    rates["feedback"] = "1/min"
    laptop, script = token_client(querier), token_client(querier)
    assert give_feedback(laptop, req).status_code == 201
    assert give_feedback(laptop, req).status_code == 429

    assert give_feedback(script, req).status_code == 200


def test_session_calls_count_per_user(rates, querier, req):
    rates["feedback"] = "1/min"
    give_feedback(session_client(querier), req)

    assert_throttled(give_feedback(session_client(querier), req), "feedback", "1/min", "user")


def test_the_user_budget_is_shared_by_all_tokens_and_the_session(rates, querier):
    rates["user"] = "2/min"
    assert token_client(querier).get(ME).status_code == 200
    assert token_client(querier).get(ME).status_code == 200

    assert_throttled(session_client(querier).get(ME), "user", "2/min", "user")


def test_one_users_throttling_does_not_affect_another(rates, app, querier, manager, req):
    rates["user"] = "2/min"
    rates["feedback"] = "1/min"
    client = token_client(querier)
    give_feedback(client, req)
    assert give_feedback(client, req).status_code == 429

    other = token_client(manager)
    assert give_feedback(other, req).status_code == 201
    assert session_client(manager).get(ME).status_code == 200


def test_reads_of_a_throttled_view_count_only_towards_the_user_budget(rates, manager):
    rates["exports"] = "1/min"
    client = token_client(manager)
    for _ in range(3):
        assert client.get("/api/v1/apps/support-bot/evaluation-sets").status_code == 200


@pytest.mark.parametrize(
    ("scope", "path"),
    [
        ("invocations", "invocations"),
        ("imports", "traces:import"),
        ("exports", "evaluation-sets"),
        ("exports", "judge-examples"),
        ("exports", "custom-judges"),
    ],
)
def test_each_costly_action_has_its_scope(rates, manager, scope, path):
    rates[scope] = "1/min"
    client = token_client(manager)
    url = f"/api/v1/apps/support-bot/{path}"
    # An invalid body still counts: the limit is on attempts, checked before any work.
    assert client.post(url, data="{}", content_type="application/json").status_code != 429

    assert_throttled(
        client.post(url, data="{}", content_type="application/json"), scope, "1/min", "API token"
    )


def test_the_exports_budget_is_one_for_all_export_kinds(rates, manager):
    rates["exports"] = "1/min"
    client = token_client(manager)
    client.post("/api/v1/apps/support-bot/evaluation-sets", data="{}", content_type="application/json")

    response = client.post(
        "/api/v1/apps/support-bot/judge-examples", data="{}", content_type="application/json"
    )

    assert response.status_code == 429


def test_a_throttle_lets_calls_through_when_its_cache_is_down(rates, settings, querier, req, caplog):
    # A real Redis client against a closed port: what the web process sees while Redis is down.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    rates["user"] = "1/min"
    rates["feedback"] = "1/min"
    client = token_client(querier)

    assert give_feedback(client, req).status_code == 201
    assert give_feedback(client, req).status_code == 200
    assert "API throttle 'user' let a request through: its cache failed" in caplog.text


@pytest.mark.parametrize("value", ["60/min", "5/s", "20/hour", "1/day", "10/minutes", "3/sec", " 7/M "])
def test_a_rate_is_read_from_its_variable(monkeypatch, value):
    monkeypatch.setenv("API_THROTTLE_FEEDBACK", value)
    assert env.envrate("API_THROTTLE_FEEDBACK", "1/min") == value.strip().lower()


def test_off_turns_a_throttle_off(monkeypatch):
    monkeypatch.setenv("API_THROTTLE_USER", "off")
    assert env.envrate("API_THROTTLE_USER", "1/min") is None


@pytest.mark.parametrize("value", ["lots", "60", "0/min", "-1/min", "60/fortnight", "1.5/min", "/min", ""])
def test_a_bad_rate_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("API_THROTTLE_IMPORTS", value)
    with pytest.raises(ImproperlyConfigured, match="API_THROTTLE_IMPORTS must be a rate like 60/min"):
        env.envrate("API_THROTTLE_IMPORTS", "20/hour")


def test_a_bad_rate_stops_the_start(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "VAR_DIR": str(tmp_path),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SETTINGS_MODULE": "reviewapp.settings",
        "API_THROTTLE_INVOCATIONS": "many/min",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=reviewapp_settings.BASE_DIR,
    )
    assert result.returncode != 0
    assert "API_THROTTLE_INVOCATIONS must be a rate like 60/min" in result.stderr


@pytest.fixture
def at(monkeypatch):
    """Sets the throttles' clock: `at(30)` makes the next calls happen 30 s after the start."""
    start = 1_900_000_000.0
    now = {"t": start}
    monkeypatch.setattr(throttling, "clock", lambda: now["t"])

    def set_to(seconds: float) -> None:
        now["t"] = start + seconds

    return set_to


@pytest.fixture(params=["default", "files"])
def cache_kind(request, settings, tmp_path):
    """The default cache (Redis when REDIS_URL is set), and the embedded default's files in every run."""
    if request.param == "files":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(tmp_path / "cache"),
            }
        }
    return request.param


def test_the_limit_is_exact_and_the_window_slides(rates, cache_kind, at, querier, req):
    rates["feedback"] = "3/min"
    client = token_client(querier)
    for second in (0, 10, 20):
        at(second)
        assert give_feedback(client, req).status_code in (200, 201)

    at(30)
    refused = give_feedback(client, req)
    assert_throttled(refused, "feedback", "3/min", "API token")
    assert refused["Retry-After"] == "30"  # until the call at 0 leaves the minute
    at(59.9)
    assert give_feedback(client, req).status_code == 429
    at(60)  # a minute after it, the call at 0 no longer counts
    assert give_feedback(client, req).status_code == 200
    at(61)
    assert give_feedback(client, req).status_code == 429
    assert give_feedback(client, req)["Retry-After"] == "9"  # the call at 10 leaves at 70


def test_a_refused_call_does_not_count(rates, cache_kind, at, querier, req):
    rates["feedback"] = "1/min"
    client = token_client(querier)
    at(0)
    give_feedback(client, req)
    for second in (10, 20, 59):
        at(second)
        assert give_feedback(client, req).status_code == 429

    at(60.1)
    assert give_feedback(client, req).status_code == 200  # let through: the same feedback again


def test_a_call_the_action_refuses_counts_towards_the_user_budget_but_not_the_other_way(
    rates, cache_kind, at, querier, req
):
    rates["user"] = "3/min"
    rates["feedback"] = "1/min"
    client = token_client(querier)
    at(0)
    give_feedback(client, req)
    assert_throttled(give_feedback(client, req), "feedback", "1/min", "API token")
    assert_throttled(give_feedback(client, req), "feedback", "1/min", "API token")

    # Three calls counted for the user: the user budget refuses now, before the action is counted.
    assert_throttled(give_feedback(client, req), "user", "3/min", "user")
    at(60.5)
    other = token_client(querier)
    assert give_feedback(other, req).status_code == 200


def test_each_budget_counts_in_its_own_period(rates, cache_kind, at, manager):
    rates["exports"] = "1/hour"
    rates["user"] = "2/min"
    client = token_client(manager)
    url = "/api/v1/apps/support-bot/evaluation-sets"
    at(0)
    client.post(url, data="{}", content_type="application/json")
    at(61)
    refused = client.post(url, data="{}", content_type="application/json")

    assert refused.status_code == 429
    assert refused["Retry-After"] == "3539"  # the hour's one call was at 0
    assert refused.json()["detail"].startswith(
        "Too many exports requests: the limit is 1/hour per API token."
    )
    assert client.get(ME).status_code == 200  # in the user budget's minute only the refused call counts


def test_a_lowered_rate_refuses_without_a_retry_after(rates, cache_kind, at, querier, req):
    rates["feedback"] = "3/min"
    client = token_client(querier)
    at(0)
    for _ in range(3):
        give_feedback(client, req)
    rates["feedback"] = "1/min"

    refused = give_feedback(client, req)

    # More calls counted than the limit now allows: no time to advise (as DRF's throttles).
    assert refused.status_code == 429
    assert "Retry-After" not in refused
    assert refused.json() == {"detail": "Too many feedback requests: the limit is 1/min per API token."}
