"""Nothing a user does needs Redis: with it stopped, sign-in, chat and feedback answer, and quickly.

The cache (allauth's sign-in limits, the API throttles) degrades instead of raising, and a Redis
that does not answer costs one short wait every few seconds, not one per cache call. The flows run
on real gunicorn with the production cache users on (tests/front/fault_settings.py), against a
Redis of the test's own that is stopped; the cache itself is checked against a hung one too.
"""

import logging
import os
import re
import signal
import time
import uuid
from contextlib import contextmanager

import pytest
import requests
from allauth.core.internal import ratelimit
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.test import RequestFactory, override_settings
from django.utils.module_loading import import_string

from reviewapp.accounts.models import ApiToken
from reviewapp.catalog.models import App, Level
from reviewapp.feedback.models import Assessment
from reviewapp.lib import cache as redis_cache_module
from reviewapp.requestlog.models import Request
from tests import factories
from tests.chains.openai_server import OpenAIServer
from tests.conftest import PASSWORD
from tests.processes import OwnRedis, free_port, process, tail, wait_serving, web_args
from tests.processes import test_env as child_env

# Each of these used to block 19 s (or fail) with Redis down; a healthy answer takes well under 1 s.
QUICK_SECONDS = 5


def make_cache(url: str):
    """The cache settings.CACHES makes for a Redis at `url` (the suite may run without Redis)."""
    conf = redis_cache_module.redis_cache(url)
    return import_string(conf["BACKEND"])(conf["LOCATION"], conf)


def timed(call):
    started = time.monotonic()
    value = call()
    return value, time.monotonic() - started


@pytest.fixture
def own_redis(tmp_path):
    with OwnRedis(tmp_path / "redis") as redis:
        yield redis


def test_the_cache_answers_as_empty_at_once_when_redis_is_stopped(own_redis):
    cache = make_cache(own_redis.url)
    cache.set("count", 3)
    assert cache.get("count") == 3

    own_redis.stop()

    for _ in range(20):
        value, seconds = timed(lambda: cache.get("count", "missing"))
        assert value == "missing" and seconds < 0.5
    assert cache.set("count", 4) is None
    assert cache.delete("count") is None


def test_allauth_gets_its_rate_limit_lock_but_no_one_time_token_passes_with_redis_stopped(own_redis):
    sign_in = RequestFactory().post("/accounts/login/", REMOTE_ADDR="192.0.2.7")
    lock_of_a_count = ratelimit.get_cache_key(
        sign_in, app="allauth.account", action="login_failed", rate=ratelimit.Rate(5, 300, "ip")
    )
    own_redis.stop()

    with override_settings(CACHES={"default": redis_cache_module.redis_cache(own_redis.url)}):
        # Not got, allauth would refuse every sign-in.
        with ratelimit.cache_lock(lock_of_a_count) as locked:
            assert locked is True
        # Got, an ID token could be replayed: add() is how allauth sees its jti the first time.
        with pytest.raises(OAuth2Error, match="token already used"):
            jwtkit.verify_jti({"iss": "https://idp.example.com", "exp": time.time() + 60, "jti": "jti-1"})


def test_add_stores_once_with_redis_up(own_redis):
    cache = make_cache(own_redis.url)
    for key in ("allauth:rl:allauth.account:login_failed:5/300/ip:192.0.2.7:lock", "jwt:iss=i,jti=j"):
        assert cache.add(key, True, timeout=60) is True
        assert cache.add(key, True, timeout=60) is False


def test_a_redis_that_does_not_answer_costs_one_short_wait_every_few_seconds(own_redis, caplog):
    cache = make_cache(own_redis.url)
    cache.set("count", 3)
    os.kill(own_redis.process.pid, signal.SIGSTOP)  # accepts connections, answers nothing
    try:
        with caplog.at_level(logging.WARNING, logger="reviewapp.lib.cache"):
            started = time.monotonic()
            values = [cache.get("count", "missing") for _ in range(50)]
            spent = time.monotonic() - started
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)

    assert values == ["missing"] * 50
    # Without the breaker: 50 calls × the 1 s read timeout. With it: the call that found Redis
    # hung, and the reconnect after it, then nothing until the breaker lets one through again.
    assert spent < 2 * (redis_cache_module.READ_TIMEOUT_SECONDS + 0.5), f"50 calls took {spent:.1f} s"
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]


def test_the_cache_is_used_again_once_redis_is_back(own_redis, caplog, monkeypatch):
    monkeypatch.setattr(redis_cache_module.BreakerConnectionPool, "OPEN_SECONDS", 0.5)
    cache = make_cache(own_redis.url)
    own_redis.stop()
    assert cache.get("count", "missing") == "missing"

    own_redis.start()
    time.sleep(0.6)

    with caplog.at_level(logging.WARNING, logger="reviewapp.lib.cache"):
        cache.set("count", 5)
    assert cache.get("count") == 5
    assert any("answers again" in r.getMessage() for r in caplog.records)


# The flows, on gunicorn with Redis stopped.


@pytest.fixture
def chain():
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def setup(transactional_db, chain):
    app = factories.make_app(
        "support-bot",
        name="Support bot",
        adapter=App.Adapter.HTTP,
        adapter_config={"url": chain.url},
        timeout_seconds=5,
    )
    user = factories.make_user("querier@example.com", PASSWORD)
    factories.grant(app, user, Level.CAN_QUERY)
    # Traced, so feedback on it also queues its MLflow write-back (a Celery message).
    traced = factories.make_request(app, user=user, mlflow_trace_id=f"tr-{uuid.uuid4().hex}")
    _token, raw = ApiToken.issue(user=user, name="redis down")
    return {"app": app, "user": user, "request": traced, "token": raw}


@contextmanager
def web_without_redis(tmp_path):
    """gunicorn on the test database, its REDIS_URL (cache and broker) a Redis that is stopped;
    and a browser's session, closed first (gunicorn waits for kept-alive connections as it stops)."""
    redis = OwnRedis(tmp_path / "redis").start()
    redis.stop()
    port = free_port()
    log = tmp_path / "web.log"
    env = child_env(
        DJANGO_SETTINGS_MODULE="tests.front.fault_settings", REDIS_URL=redis.url, CHAIN_WARMUP="false"
    )
    with process(web_args(port), env, log) as child, requests.Session() as browser:
        wait_serving(port, child, log)
        yield f"http://127.0.0.1:{port}", log, browser


def sign_in(browser: requests.Session, base: str, email: str) -> None:
    browser.get(f"{base}/accounts/login/", timeout=30).raise_for_status()
    answer, seconds = timed(
        lambda: browser.post(
            f"{base}/accounts/login/",
            data={"login": email, "password": PASSWORD, "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=30,
        )
    )
    assert answer.status_code == 302, answer.text[:2000]
    assert seconds < QUICK_SECONDS, f"sign-in took {seconds:.1f} s"


def csrf(browser: requests.Session) -> dict:
    return {"X-CSRFToken": browser.cookies["csrftoken"]}


def test_sign_in_works_with_redis_stopped(setup, tmp_path):
    with web_without_redis(tmp_path) as (base, log, browser):
        browser.get(f"{base}/accounts/login/", timeout=30).raise_for_status()
        token = browser.cookies["csrftoken"]

        wrong, wrong_seconds = timed(
            lambda: browser.post(
                f"{base}/accounts/login/",
                data={"login": "querier@example.com", "password": "not it", "csrfmiddlewaretoken": token},
                allow_redirects=False,
                timeout=30,
            )
        )
        sign_in(browser, base, "querier@example.com")
        home = browser.get(f"{base}/apps/", timeout=30)

    assert wrong.status_code == 200 and "not correct" in wrong.text, (wrong.status_code, tail(log))
    assert wrong_seconds < QUICK_SECONDS
    assert home.status_code == 200 and "querier@example.com" in home.text


def test_chat_works_with_redis_stopped(setup, tmp_path, chain):
    app = setup["app"]
    with web_without_redis(tmp_path) as (base, log, browser):
        sign_in(browser, base, "querier@example.com")
        page = browser.get(f"{base}/apps/{app.slug}/chat/", timeout=30)
        conversation = re.search(r'name="conversation_id" value="([^"]+)"', page.text).group(1)

        turn, turn_seconds = timed(
            lambda: browser.post(
                f"{base}/apps/{app.slug}/chat/",
                data={"message": "Is Redis needed?", "conversation_id": conversation},
                headers=csrf(browser),
                timeout=30,
            )
        )
        api, api_seconds = timed(
            lambda: requests.post(
                f"{base}/api/v1/apps/{app.slug}/invocations",
                json={"messages": [{"role": "user", "content": "And through the API?"}]},
                headers={"Authorization": f"Bearer {setup['token']}"},
                timeout=30,
            )
        )

    assert turn.status_code == 200, (turn.status_code, tail(log))
    assert "Echo (1 messages): Is Redis needed?" in turn.text
    assert turn_seconds < QUICK_SECONDS, f"the web chat took {turn_seconds:.1f} s"
    assert api.status_code == 200, (api.status_code, api.text, tail(log))
    assert "Echo (1 messages): And through the API?" in str(api.json())
    assert api_seconds < QUICK_SECONDS, f"the invocations API took {api_seconds:.1f} s"
    assert Request.objects.filter(app=app).count() == 3  # the traced one, and these two


def test_feedback_works_with_redis_stopped(setup, tmp_path):
    """Feedback on a traced request also sends its MLflow write-back: with the broker down the
    row waits for the sweep, and the reviewer does not wait for the broker."""
    app, traced = setup["app"], setup["request"]
    with web_without_redis(tmp_path) as (base, log, browser):
        api, api_seconds = timed(
            lambda: requests.post(
                f"{base}/api/v1/apps/{app.slug}/feedback",
                json={"request_id": str(traced.request_id), "rating": "positive"},
                headers={"Authorization": f"Bearer {setup['token']}"},
                timeout=60,
            )
        )
        sign_in(browser, base, "querier@example.com")
        panel, panel_seconds = timed(
            lambda: browser.post(
                f"{base}/apps/{app.slug}/requests/{traced.request_id}/feedback/",
                data={"field": "rating", "rating": "negative"},
                headers={**csrf(browser), "HX-Request": "true"},
                timeout=60,
            )
        )

    assert api.status_code == 201, (api.status_code, api.text, tail(log))
    assert api_seconds < QUICK_SECONDS, f"the Feedback API took {api_seconds:.1f} s"
    assert panel.status_code == 200, (panel.status_code, tail(log))
    assert panel_seconds < QUICK_SECONDS, f"the feedback panel took {panel_seconds:.1f} s"
    ratings = list(
        Assessment.objects.filter(request=traced).order_by("created_at").values_list("rating", flat=True)
    )
    assert ratings == ["positive", "negative"]
