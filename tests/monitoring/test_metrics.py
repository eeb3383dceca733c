"""/metrics: who may read it, and each series moving when its event happens (a chat turn, an API
call, a feedback post, a job, a queue's reviews), read back from the real exposition.

The counters are this process's files (and those of the processes earlier tests started, which
no longer move), so each test compares the series before and after what it does, added up over
the `server` label each process-counted series carries. Each scrape here reads the database
afresh (`DatabaseGauges.forget()`); the 30-second reading kept between scrapes has a test of its own.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.test import Client, RequestFactory
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from reviewapp.catalog.models import App, AppVersion, Level
from reviewapp.chains.base import ChainResult
from reviewapp.exports.models import JudgeExport
from reviewapp.feedback.models import MlflowSync
from reviewapp.feedback.services import record_feedback
from reviewapp.jobs.models import Job
from reviewapp.monitoring import metrics
from reviewapp.monitoring.metrics import DatabaseGauges, ProcessCounts
from reviewapp.monitoring.middleware import MetricsMiddleware
from reviewapp.queues import claims
from reviewapp.queues.models import QueueItem
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import log_turn
from tests import factories, processes
from tests.chains.openai_server import OpenAIServer
from tests.chat.helpers import events_of
from tests.queues.helpers import queue_of

TOKEN = "metrics-token-" + "k" * 30
QUESTION = [{"role": "user", "content": "How do I rotate a token?"}]


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


@pytest.fixture
def http_app(app, server):
    app.adapter = App.Adapter.HTTP
    app.adapter_config = {"url": server.url, "kind": "openai", "model": "small"}
    app.version = "7"
    app.timeout_seconds = 5
    app.save()
    return app


class Scrape:
    """One answer of /metrics, parsed: `scrape.value(name, **labels)`, added up over the servers
    (0 for a series not there)."""

    def __init__(self, text: str):
        self.text = text
        self.samples: dict[tuple[str, frozenset], float] = {}
        self.servers: set[str] = set()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = dict(sample.labels)
                if "server" in labels:
                    self.servers.add(labels.pop("server"))
                key = (sample.name, frozenset(labels.items()))
                self.samples[key] = self.samples.get(key, 0.0) + sample.value

    def value(self, name: str, **labels) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def labels_of(self, name: str) -> list[dict]:
        return [dict(labels) for sample_name, labels in self.samples if sample_name == name]


def scrape() -> Scrape:
    DatabaseGauges.forget()
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content[:500]
    return Scrape(response.content.decode())


# --- who may read it ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_without_metrics_token_there_is_no_metrics_page(settings, client):
    settings.METRICS_TOKEN = ""

    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404
    assert client.post("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Bearer x{TOKEN}",
        f"Basic {TOKEN}",
        TOKEN,
        f"Token {TOKEN}",
    ],
)
def test_a_missing_or_wrong_token_is_a_401(token, authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = Client().get("/metrics", **headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"reviewapp_" not in response.content


@pytest.mark.django_db
def test_the_right_token_reads_the_series_without_signing_in(token):
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"bearer  {TOKEN} ")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    text = response.content.decode()
    assert "# TYPE reviewapp_jobs gauge" in text
    assert "# TYPE reviewapp_mlflow_writeback_backlog gauge" in text


@pytest.mark.django_db
def test_prometheus_gets_openmetrics_when_it_asks_for_it(token):
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.content.decode().endswith("# EOF\n")


@pytest.mark.django_db
def test_it_answers_get_only_and_asks_for_no_csrf_token(token):
    client = Client(enforce_csrf_checks=True)

    for method in ("post", "put", "delete", "head"):
        response = getattr(client, method)("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 405, method
        assert response["Allow"] == "GET"


def test_the_token_can_come_from_a_file(tmp_path):
    secret = tmp_path / "metrics_token"
    secret.write_text("from-a-file-token\n")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("METRICS_TOKEN", "DJANGO_SETTINGS_MODULE")},
        "DJANGO_SETTINGS_MODULE": "reviewapp.settings",
        "METRICS_TOKEN_FILE": str(secret),
        "VAR_DIR": str(tmp_path / "var"),
    }
    code = "import django; django.setup(); from django.conf import settings; print(settings.METRICS_TOKEN)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "from-a-file-token"


def test_a_chain_may_not_be_handed_the_metrics_token():
    from reviewapp.chains.egress import secret_name_refusal

    assert secret_name_refusal("METRICS_TOKEN")
    assert secret_name_refusal("METRICS_TOKEN_FILE")


# --- HTTP requests -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_request_counts_under_its_url_pattern_method_and_status(token, as_user, manager):
    before = scrape()
    client = as_user(manager)
    for _ in range(3):
        assert client.get("/api/v1/apps/support-bot").status_code == 200
    assert client.get("/api/v1/apps/no-such-app").status_code == 404
    assert client.get("/no/such/page/").status_code == 404
    assert client.generic("BREW", "/api/v1/apps").status_code == 405
    assert client.get("/").status_code in (200, 302)
    after = scrape()

    def moved(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    detail = "api/v1/apps/<slug:slug>"
    assert moved("reviewapp_http_requests_total", route=detail, method="GET", status="200") == 3
    assert moved("reviewapp_http_requests_total", route=detail, method="GET", status="404") == 1
    assert moved("reviewapp_http_requests_total", route="unmatched", method="GET", status="404") == 1
    # A method the client invents is "other", so no client can add label values at will.
    assert moved("reviewapp_http_requests_total", route="api/v1/apps", method="other", status="405") == 1
    assert not [s for s in after.labels_of("reviewapp_http_requests_total") if s["method"] == "BREW"]
    home = [s for s in after.labels_of("reviewapp_http_requests_total") if s["route"] == "/"]
    assert home, "the home page counts under its pattern, shown as /"
    assert moved("reviewapp_http_request_duration_seconds_count", route=detail, method="GET") == 4
    assert moved("reviewapp_http_request_duration_seconds_bucket", route=detail, method="GET", le="+Inf") == 4
    assert moved("reviewapp_http_request_duration_seconds_sum", route=detail, method="GET") > 0
    # The scrapes count too, under their own pattern.
    assert after.value("reviewapp_http_requests_total", route="metrics", method="GET", status="200") >= 1


@pytest.mark.django_db
def test_a_static_file_counts_as_static_not_under_its_path(token, client):
    before = scrape()
    response = client.get("/static/css/app.css")
    after = scrape()

    assert response.status_code == 200
    assert (
        after.value("reviewapp_http_requests_total", route="static", method="GET", status="200")
        - before.value("reviewapp_http_requests_total", route="static", method="GET", status="200")
        == 1
    )
    assert not [s for s in after.labels_of("reviewapp_http_requests_total") if "app.css" in s["route"]]


@pytest.mark.django_db
def test_counting_a_request_asks_the_database_nothing(django_assert_num_queries):
    from django.http import HttpResponse

    middleware = MetricsMiddleware(lambda request: HttpResponse("ok"))
    with django_assert_num_queries(0):
        response = middleware(RequestFactory().get("/anything"))

    assert response.status_code == 200


# --- chain turns -------------------------------------------------------------------------------


def _chain_series(scrape_: Scrape, app: str, version: str) -> dict:
    return {
        "ok": scrape_.value("reviewapp_chain_invocations_total", app=app, version=version, status="ok"),
        "error": scrape_.value("reviewapp_chain_invocations_total", app=app, version=version, status="error"),
        "latency_count": scrape_.value("reviewapp_chain_latency_seconds_count", app=app, version=version),
        "request_tokens": scrape_.value(
            "reviewapp_chain_tokens_total", app=app, version=version, kind="request"
        ),
        "response_tokens": scrape_.value(
            "reviewapp_chain_tokens_total", app=app, version=version, kind="response"
        ),
    }


@pytest.mark.django_db
def test_an_api_call_and_a_chat_turn_count_as_invocations_with_latency_and_tokens(
    token, as_user, querier, http_app, server, django_capture_on_commit_callbacks
):
    before = _chain_series(scrape(), "support-bot", "7")
    client = as_user(querier)
    with django_capture_on_commit_callbacks(execute=True):
        answered = client.post(
            "/api/v1/apps/support-bot/invocations",
            data=json.dumps({"messages": QUESTION}),
            content_type="application/json",
        )
        streamed = client.post(
            "/apps/support-bot/chat/stream/", {"message": "And then?", "conversation_id": "conv-1"}
        )
        events = events_of(streamed)
    after = _chain_series(scrape(), "support-bot", "7")

    assert answered.status_code == 200, answered.content
    assert events[-1][0] == "done"
    rows = Request.objects.filter(app=http_app).order_by("created_at")
    assert [r.source for r in rows] == ["rest_api", "review_app"]
    assert after["ok"] - before["ok"] == 2
    assert after["error"] - before["error"] == 0
    assert after["latency_count"] - before["latency_count"] == 2
    assert after["request_tokens"] - before["request_tokens"] == sum(r.request_tokens for r in rows)
    assert after["response_tokens"] - before["response_tokens"] == sum(r.response_tokens for r in rows)


@pytest.mark.django_db
def test_a_failed_turn_counts_as_an_error(
    token, as_user, querier, http_app, server, django_capture_on_commit_callbacks
):
    server.fail_status = 503
    before = _chain_series(scrape(), "support-bot", "7")
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(querier).post(
            "/api/v1/apps/support-bot/invocations",
            data=json.dumps({"messages": QUESTION}),
            content_type="application/json",
        )
    after = _chain_series(scrape(), "support-bot", "7")

    assert response.status_code >= 400
    assert Request.objects.get(app=http_app).status == Request.Status.ERROR
    assert after["error"] - before["error"] == 1
    assert after["ok"] - before["ok"] == 0


@pytest.mark.django_db
def test_a_turn_counts_once_committed_and_an_import_or_a_backdated_turn_never(
    token, app, django_capture_on_commit_callbacks
):
    def turn(source, **kwargs):
        return log_turn(
            app=app,
            user=None,
            source=source,
            messages=QUESTION,
            result=ChainResult(response="Yes.", latency_ms=250, request_tokens=3, response_tokens=2),
            **kwargs,
        )

    before = _chain_series(scrape(), "support-bot", "1")
    with django_capture_on_commit_callbacks(execute=True):
        turn(Request.Source.IMPORT)
        # A turn dated in the past (the demo's history) is history too, not traffic.
        turn(Request.Source.REST_API, created_at=timezone.now() - timedelta(days=30))
        with pytest.raises(RuntimeError), transaction.atomic():
            turn(Request.Source.REST_API)
            raise RuntimeError("rolled back: the turn was never stored")
    middle = _chain_series(scrape(), "support-bot", "1")
    with django_capture_on_commit_callbacks(execute=True):
        turn(Request.Source.REST_API)
    after = _chain_series(scrape(), "support-bot", "1")

    assert middle == before
    assert after["ok"] - before["ok"] == 1
    assert after["request_tokens"] - before["request_tokens"] == 3
    assert after["response_tokens"] - before["response_tokens"] == 2
    chain = scrape()
    assert (
        chain.value("reviewapp_chain_latency_seconds_bucket", app="support-bot", version="1", le="0.25") >= 1
    )


@pytest.mark.django_db
def test_a_version_shows_only_when_the_database_knows_it_for_the_app(
    token, django_capture_on_commit_callbacks
):
    app = factories.make_app(f"many-versions-{uuid.uuid4().hex[:8]}")
    app.version = "2.0"
    app.save(update_fields=["version"])
    AppVersion.objects.create(app=app, version="1.0", adapter=app.adapter)
    other = factories.make_app(f"other-{uuid.uuid4().hex[:8]}")
    AppVersion.objects.create(app=other, version="9.9", adapter=other.adapter)  # not this app's
    said = ["2.0", "1.0", "9.9", "1.0", *(f"chain-said-{i}-" + "v" * 200 for i in range(5))]
    with django_capture_on_commit_callbacks(execute=True):
        for version in said:
            log_turn(
                app=app,
                user=None,
                source=Request.Source.REST_API,
                messages=QUESTION,
                result=ChainResult(response="Yes.", app_version=version),
            )
    after = scrape()

    versions = {
        s["version"] for s in after.labels_of("reviewapp_chain_invocations_total") if s["app"] == app.slug
    }
    assert versions == {"2.0", "1.0", "other"}
    count = {
        v: after.value("reviewapp_chain_invocations_total", app=app.slug, version=v, status="ok")
        for v in versions
    }
    assert count == {"2.0": 1, "1.0": 2, "other": 6}


VERSIONS_SAID = """
import sys, uuid
import django
django.setup()
from reviewapp.catalog.models import App
from reviewapp.monitoring import metrics
from reviewapp.requestlog.models import Request

app = App.objects.get(slug=sys.argv[1])
for i in range(60):
    version = ["2.0", "1.0"][i % 2] if i < 4 else f"p{sys.argv[2]}-{uuid.uuid4().hex[:8]}"
    metrics.count_turn(Request(app=app, app_version=version, status="ok", latency_ms=100))
"""


@pytest.mark.django_db(transaction=True)
def test_however_many_processes_count_an_app_has_its_known_versions_and_other(tmp_path):
    app = factories.make_app(f"proc-versions-{uuid.uuid4().hex[:8]}")
    app.version = "2.0"
    app.save(update_fields=["version"])
    AppVersion.objects.create(app=app, version="1.0", adapter=app.adapter)
    root = tmp_path / "metrics"
    env = processes.test_env(METRICS_DIR=str(root), PROMETHEUS_MULTIPROC_DIR=None)
    # Three processes, as three gunicorn workers (or one worker restarted twice), each told 56
    # versions of its own by the chain.
    children = [
        subprocess.Popen(
            [sys.executable, "-c", VERSIONS_SAID, app.slug, str(n)], env=env, stderr=subprocess.PIPE
        )
        for n in range(3)
    ]
    for child in children:
        assert child.wait(timeout=120) == 0, child.stderr.read().decode()[-3000:]

    samples = [
        sample
        for family in ProcessCounts(root).collect()
        for sample in family.samples
        if sample.name == "reviewapp_chain_invocations_total" and sample.labels["app"] == app.slug
    ]
    assert {sample.labels["version"] for sample in samples} == {"2.0", "1.0", "other"}
    assert sum(sample.value for sample in samples) == 180
    assert sum(s.value for s in samples if s.labels["version"] == "other") == 168


# --- judges ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_judge_results_count_what_each_judge_said(token, app, manager, django_capture_on_commit_callbacks):
    from tests.judges.helpers import judged, labelled

    def said(value):
        return scrape().value(
            "reviewapp_judge_results_total", app="support-bot", judge="grounded", value=value, how="run"
        )

    before = {value: said(value) for value in ("pass", "fail")}
    labelled(app, manager)
    with django_capture_on_commit_callbacks(execute=True):
        judged(app, manager)

    # r1, r2 and r6 are grounded; r3, r4 and r5 are not.
    assert {value: said(value) - before[value] for value in before} == {"pass": 3, "fail": 3}


# --- feedback ----------------------------------------------------------------------------------


def _feedback(scrape_: Scrape) -> dict:
    return {
        rating: scrape_.value("reviewapp_feedback_total", app="support-bot", rating=rating)
        for rating in ("positive", "negative", "none")
    }


@pytest.mark.django_db
def test_feedback_counts_a_first_rating_and_each_change_of_it_never_an_edit(
    token, as_user, querier, app, django_capture_on_commit_callbacks
):
    first, second = (factories.make_request(app, user=querier) for _ in range(2))
    client = as_user(querier)

    def post(body):
        return client.post(
            "/api/v1/apps/support-bot/feedback", data=json.dumps(body), content_type="application/json"
        )

    def moved(before, after):
        return {k: after[k] - before[k] for k in after}

    before = _feedback(scrape())
    assessment_id = str(uuid.uuid4())
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            post(
                {"request_id": str(first.pk), "rating": "positive", "assessment_id": assessment_id}
            ).status_code
            == 201
        )
        # A retry stores nothing, and counts nothing.
        assert (
            post(
                {"request_id": str(first.pk), "rating": "positive", "assessment_id": assessment_id}
            ).status_code
            == 200
        )
        assert post({"request_id": str(second.pk), "comment": "No thumbs, a remark"}).status_code == 201
    assert moved(before, _feedback(scrape())) == {"positive": 1, "negative": 0, "none": 1}

    # Edits that keep the thumb are new rows, not new ratings.
    middle = _feedback(scrape())
    with django_capture_on_commit_callbacks(execute=True):
        assert post({"request_id": str(first.pk), "comment": "good"}).status_code == 201
        assert post({"request_id": str(first.pk), "comment": "very good"}).status_code == 201
        assert post({"request_id": str(second.pk), "comment": "Still no thumb"}).status_code == 201
    assert moved(middle, _feedback(scrape())) == {"positive": 0, "negative": 0, "none": 0}

    # A change of mind counts the new rating; a thumb cleared counts none; a thumb given later counts.
    middle = _feedback(scrape())
    with django_capture_on_commit_callbacks(execute=True):
        assert post({"request_id": str(first.pk), "rating": "negative"}).status_code == 201
        assert post({"request_id": str(first.pk), "rating": None}).status_code == 201
        assert post({"request_id": str(second.pk), "rating": "positive"}).status_code == 201
    assert moved(middle, _feedback(scrape())) == {"positive": 1, "negative": 1, "none": 1}


@pytest.mark.django_db
def test_a_queue_re_submission_of_unchanged_feedback_counts_nothing(
    token, querier, app, django_capture_on_commit_callbacks
):
    request = factories.make_request(app, user=querier)
    queue = queue_of([request])
    before = _feedback(scrape())
    with django_capture_on_commit_callbacks(execute=True):
        record_feedback(request=request, reviewer=querier, changes={"rating": "negative"})
        # The same feedback, submitted again from the queue: a row of its own (it records the queue).
        again = record_feedback(
            request=request, reviewer=querier, changes={"rating": "negative"}, queue=queue
        )
    after = _feedback(scrape())

    assert again.created and again.assessment.queue_id == queue.pk
    assert {k: after[k] - before[k] for k in after} == {"positive": 0, "negative": 1, "none": 0}


@pytest.mark.django_db
def test_feedback_rolled_back_is_not_counted(token, querier, app, django_capture_on_commit_callbacks):
    request = factories.make_request(app, user=querier)
    before = _feedback(scrape())
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        record_feedback(request=request, reviewer=querier, changes={"rating": "positive"})
        raise RuntimeError("rolled back")
    assert _feedback(scrape()) == before


# --- what the database holds -------------------------------------------------------------------


@pytest.mark.django_db
def test_jobs_show_by_kind_and_state_as_they_run(token, app):
    def jobs(kind):
        found = scrape()
        return {state: found.value("reviewapp_jobs", kind=kind, state=state) for state in Job.Status.values}

    first = Job.objects.create(kind="import_traces", app=app)
    Job.objects.create(kind="import_traces", app=app)
    Job.objects.create(kind="export_evaluation_set", app=app)
    assert jobs("import_traces") == {"queued": 2, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 0}
    assert jobs("export_evaluation_set") == {
        "queued": 1,
        "running": 0,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 0,
    }

    assert first.claim()
    assert jobs("import_traces") == {"queued": 1, "running": 1, "succeeded": 0, "failed": 0, "cancelled": 0}
    first.succeed({"rows": 1})
    assert jobs("import_traces") == {"queued": 1, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 0}


def _queue_gauges(queue) -> tuple[float, float]:
    found = scrape()
    labels = {"app": queue.app.slug, "queue": str(queue.pk)}
    return (
        found.value("reviewapp_queue_backlog_items", **labels),
        found.value("reviewapp_queue_oldest_item_age_seconds", **labels),
    )


@pytest.mark.django_db
def test_a_queue_s_backlog_and_oldest_waiting_item_follow_its_reviews(token, app):
    requests = [factories.make_request(app, question=f"Q{i}") for i in range(3)]
    queue = queue_of(requests, overlap=2)
    a, b = (factories.make_user(f"reviewer{i}@example.com") for i in range(2))
    for reviewer in (a, b):
        factories.grant(app, reviewer, Level.CAN_QUERY)
    now = timezone.now()
    items = list(queue.items.order_by("position"))
    for hours, item in zip((3, 2, 1), items, strict=True):
        QueueItem.objects.filter(pk=item.pk).update(added_at=now - timedelta(hours=hours))

    def review(reviewer, item):
        held = claims.claim_item(item=item, reviewer=reviewer)
        record_feedback(request=item.request, reviewer=reviewer, changes={"rating": "positive"})
        claims.complete_item(item=held.item, reviewer=reviewer)

    backlog, age = _queue_gauges(queue)
    assert backlog == 6  # 3 items x 2 reviews each
    assert 3 * 3600 <= age < 3 * 3600 + 120

    claims.claim_item(item=items[1], reviewer=a)  # held, not submitted: still waiting
    review(b, items[0])
    backlog, age = _queue_gauges(queue)
    assert backlog == 5
    assert 3 * 3600 <= age < 3 * 3600 + 120  # one of its two reviews is still missing

    review(a, items[0])
    backlog, age = _queue_gauges(queue)
    assert backlog == 4
    assert 2 * 3600 <= age < 2 * 3600 + 120  # the first item is done: the second waits longest

    # With the overlap lowered to 1, a second review of an item fills no slot the item needs.
    queue.overlap = 1
    queue.save(update_fields=["overlap"])
    assert _queue_gauges(queue)[0] == 2

    for item in items[1:]:
        review(a, item)
    assert _queue_gauges(queue) == (0, 0)


@pytest.mark.django_db
def test_queues_of_every_app_show_under_their_app_and_id_never_their_name(token, app):
    other = factories.make_app("other-bot")
    mine = queue_of([factories.make_request(app)], name="Ask alice@example.com first")
    theirs = queue_of([factories.make_request(other)], name="Theirs")

    found = scrape()
    labels = found.labels_of("reviewapp_queue_backlog_items")
    assert {"app": "support-bot", "queue": str(mine.pk)} in labels
    assert {"app": "other-bot", "queue": str(theirs.pk)} in labels
    assert "alice@example.com" not in found.text


@pytest.mark.django_db
def test_the_mlflow_writeback_backlog_counts_feedback_waiting_never_an_export_s_step(
    token, as_user, querier, app, manager
):
    def backlog():
        found = scrape()
        return {
            state: found.value("reviewapp_mlflow_writeback_backlog", state=state)
            for state in ("pending", "failed")
        }

    assert backlog() == {"pending": 0, "failed": 0}
    traced = [factories.make_request(app, user=querier, mlflow_trace_id=f"tr-{i}") for i in range(3)]
    for request in traced:
        record_feedback(request=request, reviewer=querier, changes={"rating": "positive"})
    assert backlog() == {"pending": 3, "failed": 0}

    MlflowSync.objects.filter(assessment__request=traced[0]).update(status=MlflowSync.Status.FAILED)
    MlflowSync.objects.filter(assessment__request=traced[1]).update(status=MlflowSync.Status.DONE)
    # An export's MLflow step waiting (pending by default) is not feedback's write-back.
    job = Job.objects.create(kind="export_judge_examples", app=app)
    JudgeExport.objects.create(app=app, job=job, example_count=0, relative_dir="judges/1")
    assert backlog() == {"pending": 1, "failed": 1}


@pytest.mark.django_db
def test_the_database_gauges_take_a_few_queries_whatever_the_rows(token, app, django_assert_max_num_queries):
    for i in range(3):
        queue_of([factories.make_request(app, question=f"Q{i}-{j}") for j in range(4)], name=f"Q{i}")
        Job.objects.create(kind=f"kind_{i}", app=app)

    DatabaseGauges.forget()
    with django_assert_max_num_queries(5):
        families = {family.name: family for family in DatabaseGauges().collect()}

    assert set(families) == {
        "reviewapp_queue_backlog_items",
        "reviewapp_queue_oldest_item_age_seconds",
        "reviewapp_jobs",
        "reviewapp_mlflow_writeback_backlog",
    }
    assert len(families["reviewapp_queue_backlog_items"].samples) == 3


@pytest.mark.django_db
def test_scrapes_within_30_seconds_share_one_reading_of_the_database(token, app, django_assert_num_queries):
    job = Job.objects.create(kind="import_traces", app=app)
    first = scrape()  # reads the database
    job.claim()
    gauges = DatabaseGauges()
    with django_assert_num_queries(0):
        for _ in range(20):  # a storm of scrapes
            found = {f.name: f for f in gauges.collect()}
            answered = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
            assert answered.status_code == 200
    kept = Scrape(answered.content.decode())

    assert gauges.seconds == 30
    assert first.value("reviewapp_jobs", kind="import_traces", state="queued") == 1
    assert kept.value("reviewapp_jobs", kind="import_traces", state="queued") == 1  # as read
    assert "reviewapp_jobs" in found
    # Once the reading is older than `seconds`, the next scrape reads again.
    fresh = DatabaseGauges()
    fresh.seconds = 0.2
    time.sleep(0.3)
    now = {
        (s.labels["kind"], s.labels["state"]): s.value
        for f in fresh.collect()
        if f.name == "reviewapp_jobs"
        for s in f.samples
    }
    assert now[("import_traces", "running")] == 1


@pytest.mark.django_db
def test_the_oldest_waiting_item_is_found_without_reading_every_item(
    token, app, django_assert_max_num_queries
):
    from django.db import connection

    requests = [factories.make_request(app, question=f"Q{i}") for i in range(3)]
    queue = queue_of(requests, overlap=1)
    reviewer = factories.make_user("reviewer@example.com")
    factories.grant(app, reviewer, Level.CAN_QUERY)
    DatabaseGauges.forget()
    with django_assert_max_num_queries(5) as captured:
        list(DatabaseGauges().collect())
    [oldest_sql] = [q["sql"] for q in captured.captured_queries if "added_at" in q["sql"]]

    # The search starts from the queue's oldest item, in the order of an index, and stops at the
    # first one still waiting; only queues with a slot to fill are searched.
    assert "LIMIT 1" in oldest_sql.upper()
    assert f"IN ({queue.pk})" in oldest_sql.replace("'", "")
    index = {i.name: i.fields for i in QueueItem._meta.indexes}
    assert index["queue_item_added"] == ["queue", "added_at", "id"]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'queue_item_added'")
            assert cursor.fetchone() is not None
    # A queue with every slot filled is not searched at all.
    for item in queue.items.all():
        held = claims.claim_item(item=item, reviewer=reviewer)
        record_feedback(request=item.request, reviewer=reviewer, changes={"rating": "positive"})
        claims.complete_item(item=held.item, reviewer=reviewer)
    DatabaseGauges.forget()
    with django_assert_max_num_queries(5) as captured:
        list(DatabaseGauges().collect())
    assert not [q for q in captured.captured_queries if "LIMIT 1" in q["sql"].upper()]
    assert _queue_gauges(queue) == (0, 0)


# --- streamed answers ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_streamed_answer_is_timed_to_its_first_chunk(
    token, as_user, querier, http_app, server, django_capture_on_commit_callbacks
):
    route = "apps/<slug:slug>/chat/stream/"
    server.delay = 0.6  # the chain takes its time before its first word

    def timed(found):
        return (
            found.value("reviewapp_http_request_duration_seconds_count", route=route, method="POST"),
            found.value("reviewapp_http_request_duration_seconds_sum", route=route, method="POST"),
        )

    before = timed(scrape())
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(querier).post(
            "/apps/support-bot/chat/stream/", {"message": "Hi", "conversation_id": "conv-s"}
        )
        assert response.streaming
        not_yet = timed(scrape())  # the view has returned; nothing was sent yet
        events = events_of(response)
    after = timed(scrape())

    assert events[-1][0] == "done"
    assert not_yet == before
    assert after[0] - before[0] == 1
    assert after[1] - before[1] >= 0.6


# --- per server ----------------------------------------------------------------------------------

COUNTS_FEEDBACK = """
import sys
import django
django.setup()
from reviewapp.monitoring import metrics

if sys.argv[2] == "start":
    metrics.start_server()
for _ in range(int(sys.argv[1])):
    metrics.count_feedback(app="a", rating="positive")
"""


def _count_in_a_process(root: Path, times: int, *, start: bool = False, folder: Path | None = None) -> None:
    env = processes.test_env(METRICS_DIR=str(root), PROMETHEUS_MULTIPROC_DIR=str(folder) if folder else None)
    args = [sys.executable, "-c", COUNTS_FEEDBACK, str(times), "start" if start else "-"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


def _feedback_by_server(root: Path) -> dict[str, float]:
    return {
        sample.labels["server"]: sample.value
        for family in ProcessCounts(root).collect()
        for sample in family.samples
        if sample.name == "reviewapp_feedback_total"
    }


def test_each_server_s_counts_are_exported_on_their_own_so_a_restart_resets_only_its_own(tmp_path):
    root = tmp_path / "metrics"
    old_container = root / "old-container-1"  # another host's folder on the shared volume
    _count_in_a_process(root, 500, folder=old_container)
    _count_in_a_process(root, 7, start=True)
    [web] = [name for name in _feedback_by_server(root) if name != old_container.name]
    assert _feedback_by_server(root) == {old_container.name: 500, web: 7}

    # The web restarts (a new server): its own series starts from zero, the other's stays put.
    _count_in_a_process(root, 2, start=True)
    after = _feedback_by_server(root)

    assert after.pop(old_container.name) == 500
    assert list(after.values()) == [2] and web not in after
    assert (root / web).exists() is False
    for family in ProcessCounts(root).collect():
        assert all(sample.labels["server"] for sample in family.samples), family.name


def test_another_host_s_folder_unchanged_for_7_days_is_removed(tmp_path):
    root = tmp_path / "metrics"
    gone, quiet = root / "gone-host-1", root / "quiet-host-1"
    for folder in (gone, quiet):
        _count_in_a_process(root, 1, folder=folder)
    _count_in_a_process(root, 1, start=True)
    [ours] = [folder for folder in root.iterdir() if folder not in (gone, quiet)]
    now = time.time()
    for folder, days in ((gone, 7.1), (quiet, 6.9), (ours, 30)):
        for path in folder.iterdir():
            os.utime(path, (now - days * 86400, now - days * 86400))

    servers = set(_feedback_by_server(root))

    assert servers == {quiet.name, ours.name}  # ours is removed by liveness, when a server starts
    assert not gone.exists() and quiet.exists() and ours.exists()
    metrics.prune_gone_hosts(root, now=now + 0.2 * 86400)
    assert not quiet.exists()
