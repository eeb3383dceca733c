"""Every PromQL expression of the Grafana dashboard and of the alert rules parses, and selects only
series the app's /metrics exports, with only the labels those series carry and, where a matcher
names values, values they take.

The exported series are read from the real /metrics (through the test client, with METRICS_TOKEN)
after chat turns of each outcome, feedback of each kind, a job and a review queue, so every series
has samples.
"""

import json
import re

import promql_parser as promql
import pytest
import yaml
from django.conf import settings
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from reviewapp.jobs.models import Job
from reviewapp.monitoring.metrics import DatabaseGauges
from reviewapp.requestlog.models import Request
from tests.chains.openai_server import OpenAIServer
from tests.chat.helpers import events_of
from tests.queues.helpers import queue_of

DOCKER = settings.BASE_DIR / "docker"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "reviewapp.json"
ALERTS = DOCKER / "prometheus" / "alerts.yml"
TOKEN = "metrics-token-for-tests-" + "x" * 20

# Prometheus adds these to every series it scrapes, and writes `up` for each target itself.
TARGET_LABELS = frozenset({"job", "instance"})
PROMETHEUS_OWN = {"up": frozenset()}

# Grafana replaces its variables before a query is sent: its own by durations, the dashboard's by
# the app and version of the turns the `exported` fixture makes.
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "7d"}
DASHBOARD_VARIABLES = {"app": "support-bot", "version": "v1"}
# The series the app exports for Prometheus, each with samples once the `exported` fixture ran.
SERIES = {
    "reviewapp_http_requests_total",
    "reviewapp_http_request_duration_seconds_bucket",
    "reviewapp_http_request_duration_seconds_sum",
    "reviewapp_http_request_duration_seconds_count",
    "reviewapp_chain_invocations_total",
    "reviewapp_chain_latency_seconds_bucket",
    "reviewapp_chain_latency_seconds_sum",
    "reviewapp_chain_latency_seconds_count",
    "reviewapp_chain_tokens_total",
    "reviewapp_feedback_total",
    "reviewapp_queue_backlog_items",
    "reviewapp_queue_oldest_item_age_seconds",
    "reviewapp_jobs",
    "reviewapp_mlflow_writeback_backlog",
}
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")


# --- the expressions ---------------------------------------------------------------------------


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(board: dict):
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def grafana(expr: str) -> str:
    """`expr` as Grafana sends it; a variable the dashboard does not define is an error."""
    defined = {variable["name"] for variable in dashboard()["templating"]["list"]}

    def value(match: re.Match) -> str:
        name = match[1] or match[2]
        if name in GRAFANA_BUILTINS:
            return GRAFANA_BUILTINS[name]
        assert name in defined, f"${name} is not a variable of the dashboard: {expr!r}"
        return DASHBOARD_VARIABLES[name]

    return VARIABLE.sub(value, expr)


def dashboard_expressions() -> list[tuple[str, str]]:
    found = [
        (f"panel {panel['title']!r} {target['refId']}", grafana(target["expr"]))
        for panel in panels(dashboard())
        for target in panel.get("targets", [])
    ]
    assert found, "the dashboard has no queries"
    return found


def alert_expressions() -> list[tuple[str, str]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    found = [
        (f"rule {rule.get('alert') or rule['record']}", rule["expr"])
        for group in groups
        for rule in group["rules"]
    ]
    assert found, "alerts.yml has no rules"
    return found


def variable_queries() -> list[tuple[str, str, str]]:
    """(variable, selector, label) of each label_values() variable of the dashboard."""
    found = []
    for variable in dashboard()["templating"]["list"]:
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = LABEL_VALUES.match(query)
        assert match, f"variable {variable['name']}: not a label_values() query: {query!r}"
        found.append((variable["name"], grafana(match["selector"]), match["label"]))
    return found


# --- what an expression selects --------------------------------------------------------------------


# Sample name → label name → the values its samples carry.
Exported = dict[str, dict[str, set[str]]]
# A regex matcher this test can check value by value: plain alternatives, as in "positive|negative".
ALTERNATIVES = re.compile(r"[\w-]+(\|[\w-]+)*")


class Checker:
    """Walks a parsed expression, working out the label names of what each part yields, and notes
    every series, label or label value it names that the app does not export."""

    def __init__(self, exported: Exported):
        self.values = exported
        self.exported = {**PROMETHEUS_OWN, **{name: frozenset(labels) for name, labels in exported.items()}}
        self.problems: list[str] = []

    def check(self, where: str, text: str) -> None:
        try:
            expr = promql.parse(text)
        except ValueError as error:
            self.problems.append(f"{where}: does not parse ({error}): {text}")
            return
        self.where = where
        self.labels(expr)

    def problem(self, message: str) -> None:
        self.problems.append(f"{self.where}: {message}")

    def need(self, wanted, have: frozenset[str] | None, context: str) -> None:
        for label in wanted:
            if have is not None and label not in have:
                self.problem(f"label {label!r} of {context} is not on {sorted(have)}")

    def labels(self, node) -> frozenset[str] | None:
        """Label names of the series `node` yields; None for a scalar or a string."""
        if isinstance(node, promql.VectorSelector):
            return self.selector(node)
        if isinstance(node, promql.MatrixSelector):
            return self.selector(node.vector_selector)
        if isinstance(node, (promql.ParenExpr, promql.UnaryExpr, promql.SubqueryExpr)):
            return self.labels(node.expr)
        if isinstance(node, (promql.NumberLiteral, promql.StringLiteral)):
            return None
        if isinstance(node, promql.Call):
            return self.call(node)
        if isinstance(node, promql.AggregateExpr):
            return self.aggregate(node)
        if isinstance(node, promql.BinaryExpr):
            return self.binary(node)
        raise AssertionError(f"{self.where}: a {type(node).__name__} this test does not know")

    def selector(self, node) -> frozenset[str] | None:
        names = [node.name] if node.name else []
        matchers = [*node.matchers.matchers, *(m for group in node.matchers.or_matchers for m in group)]
        for matcher in matchers:
            if matcher.name == "__name__":
                if matcher.op == promql.MatchOp.Equal:
                    names = [matcher.value]
                elif matcher.op == promql.MatchOp.Re and ALTERNATIVES.fullmatch(matcher.value):
                    names = matcher.value.split("|")  # a union of named series: each is checked
                else:
                    self.problem(f"a series named by a pattern ({matcher}) cannot be checked")
                    return None
        missing = [name for name in names if name not in self.exported]
        for name in missing:
            self.problem(f"series {name!r} is not exported")
        if missing or not names:
            return None
        # What every series of the union carries.
        have = frozenset.intersection(*(self.exported[name] for name in names)) | TARGET_LABELS
        for name in names:
            self.need((m.name for m in matchers if m.name != "__name__"), have, f"a matcher of {name}")
            for matcher in matchers:
                seen = self.values.get(name, {}).get(matcher.name)
                if seen is None:
                    continue
                if matcher.op == promql.MatchOp.Equal:
                    wanted = [matcher.value]
                elif matcher.op == promql.MatchOp.Re and ALTERNATIVES.fullmatch(matcher.value):
                    wanted = matcher.value.split("|")
                else:
                    continue  # a pattern, or a negation: nothing it must find
                for value in wanted:
                    if value not in seen:
                        self.problem(f"no {name} sample has {matcher.name}={value!r} (only {sorted(seen)})")
        return have

    def call(self, node) -> frozenset[str] | None:
        args = [self.labels(arg) for arg in node.args]
        name = node.func.name
        if name == "histogram_quantile":
            self.need(["le"], args[1], "histogram_quantile (a histogram's buckets)")
            return None if args[1] is None else args[1] - {"le"}
        if name in ("label_replace", "label_join"):
            source = [node.args[3].val] if name == "label_replace" else [a.val for a in node.args[3:]]
            self.need([s for s in source if s], args[0], name)
            return None if args[0] is None else args[0] | {node.args[1].val}
        if name in ("scalar", "time"):
            return None
        if name == "vector":
            return frozenset()
        vectors = [labels for labels in args if labels is not None]
        return vectors[0] if vectors else None

    def aggregate(self, node) -> frozenset[str] | None:
        inner = self.labels(node.expr)
        if node.param is not None:
            self.labels(node.param)
        op = str(node.op)
        if node.modifier is None:
            keeps = op in ("topk", "bottomk", "limitk", "limit_ratio")
            return inner if keeps else frozenset({node.param.val}) if op == "count_values" else frozenset()
        self.need(node.modifier.labels, inner, f"{op} by/without")
        if node.modifier.type == promql.AggModifierType.By:
            return inner if op in ("topk", "bottomk") else frozenset(node.modifier.labels)
        return None if inner is None else inner - set(node.modifier.labels)

    def binary(self, node) -> frozenset[str] | None:
        left, right = self.labels(node.lhs), self.labels(node.rhs)
        if left is None or right is None:
            return right if left is None else left
        modifier = node.modifier
        matching = modifier.matching if modifier else None
        if matching is not None:
            # on(...) and ignoring(...) name labels both sides must carry to be matched.
            self.need(matching.labels, left, f"{node.op} on/ignoring (left side)")
            self.need(matching.labels, right, f"{node.op} on/ignoring (right side)")
        group = frozenset(modifier.group_labels or ()) if modifier else frozenset()
        op = str(node.op)
        if op in ("and", "unless"):
            return left
        if op == "or":
            return left | right
        card = modifier.card if modifier else promql.VectorMatchCardinality.OneToOne
        if card == promql.VectorMatchCardinality.ManyToOne:
            self.need(group, right, "group_left")
            return left | group
        if card == promql.VectorMatchCardinality.OneToMany:
            self.need(group, left, "group_right")
            return right | group
        if matching is None:
            return left
        if matching.type == promql.LabelModifierType.Include:
            return frozenset(matching.labels)
        return left - set(matching.labels)


# --- the series the app exports --------------------------------------------------------------------


def series_of(exposition: str) -> Exported:
    """Sample name → label → values (a histogram gives _bucket/_sum/_count, a counter _total)."""
    series: Exported = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels = series.setdefault(sample.name, {})
            for label, value in sample.labels.items():
                labels.setdefault(label, set()).add(value)
    return series


@pytest.fixture
def exported(db, settings, as_user, manager, app, django_capture_on_commit_callbacks) -> Exported:
    """What /metrics exports once there were chat turns of each outcome, feedback of each kind, a
    job and a review queue."""
    settings.METRICS_TOKEN = TOKEN
    client = as_user(manager)

    def ask(question: str):
        return client.post(
            f"/api/v1/apps/{app.slug}/invocations",
            json.dumps({"messages": [{"role": "user", "content": question}]}),
            content_type="application/json",
        )

    def feedback(request_id, **fields):
        answer = client.post(
            f"/api/v1/apps/{app.slug}/feedback",
            json.dumps({"request_id": str(request_id), **fields}),
            content_type="application/json",
        )
        assert answer.status_code == 201, answer.content

    with OpenAIServer() as server, django_capture_on_commit_callbacks(execute=True):
        app.adapter = app.Adapter.HTTP
        app.adapter_config = {"url": server.url}
        app.version = "v1"
        app.timeout_seconds = 5
        app.save()
        server.usage = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
        answered = ask("Which series are there?")
        assert answered.status_code == 200, answered.content
        server.cut_after = 2  # the stream breaks off: an incomplete turn
        events_of(client.post(f"/apps/{app.slug}/chat/stream/", {"message": "And?", "conversation_id": "c"}))
        server.cut_after, server.fail_status = None, 503  # the chain fails: an error turn
        ask("Still there?")
    turns = {turn.status: turn.pk for turn in Request.objects.filter(app=app)}
    assert set(turns) == set(Request.Status.values), turns

    with django_capture_on_commit_callbacks(execute=True):
        feedback(turns["ok"], rating="positive")
        feedback(turns["incomplete"], rating="negative")
        feedback(turns["error"], comment="No thumb, a comment only.")
    Job.objects.create(kind="export_evaluation_set", app=app)
    queue_of([Request.objects.get(pk=turns["ok"])], created_by=manager)

    DatabaseGauges.forget()  # the queue and the job just made, not a reading kept from before
    scrape = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert scrape.status_code == 200, scrape.content[:2000]
    found = series_of(scrape.content.decode())
    # Each event left its series (an empty exposition would make every check below vacuous).
    assert found.keys() >= SERIES, sorted(SERIES - found.keys())
    return found


# --- the tests -------------------------------------------------------------------------------------


def test_every_dashboard_and_alert_expression_names_exported_series_and_labels(exported):
    checker = Checker(exported)
    for where, expr in dashboard_expressions() + alert_expressions():
        checker.check(where, expr)
    for variable, selector, label in variable_queries():
        checker.check(f"variable {variable}", f"count by ({label}) ({selector})")

    assert checker.problems == []


def test_every_dashboard_and_alert_expression_adds_up_the_servers(exported):
    # Each server's counters reset on their own: an expression must take rate() or increase()
    # per series and then sum the servers away, never chart or compare one server's share.
    assert "server" in exported["reviewapp_feedback_total"]
    checker = Checker(exported)
    kept = {}
    for where, expr in dashboard_expressions() + alert_expressions():
        checker.where = where
        labels = checker.labels(promql.parse(expr))
        if labels is None or "server" in labels:
            kept[where] = expr
    assert kept == {}


def test_the_dashboard_and_the_alerts_cover_every_exported_series(exported):
    # A series nobody charts or alerts on is a series someone forgot, or one the app should drop.
    named = set()

    def visit(node):
        if isinstance(node, promql.VectorSelector):
            named.add(node.name)

    for _where, expr in dashboard_expressions() + alert_expressions():
        promql.walk(promql.parse(expr), visit)
    families = {
        re.sub(r"_(bucket|sum|count|total|created)$", "", name)
        for name in exported
        if name.startswith("reviewapp_")
    }
    charted = {re.sub(r"_(bucket|sum|count|total)$", "", name) for name in named if name}
    assert sorted(families - charted) == []


# The checker itself: each kind of mistake it must catch, on a small exported set of its own.
EXPORTED: Exported = {
    "reviewapp_chain_invocations_total": {
        "app": {"support-bot"},
        "version": {"v1"},
        "status": {"ok", "incomplete", "error"},
    },
    "reviewapp_chain_latency_seconds_bucket": {
        "app": {"support-bot"},
        "version": {"v1"},
        "le": {"1.0", "+Inf"},
    },
    "reviewapp_feedback_total": {
        "app": {"support-bot"},
        "rating": {"positive", "negative", "none"},
        "server": {"web-1"},
    },
}


@pytest.mark.parametrize(
    "expr",
    [
        'sum by (app) (rate(reviewapp_chain_invocations_total{status="error"}[5m]))',
        "histogram_quantile(0.95, sum by (app, le) (rate(reviewapp_chain_latency_seconds_bucket[5m])))",
        "sum by (app) (rate(reviewapp_chain_invocations_total[5m])) / on (app) "
        "sum by (app) (rate(reviewapp_feedback_total[5m]))",
        "sum by (app, version) (reviewapp_chain_invocations_total) * on (app) group_left (rating) "
        "sum by (app, rating) (reviewapp_feedback_total)",
        'up{job="reviewapp", instance="web:8000"} == 0',
        "sum by (instance) (reviewapp_feedback_total)",
        'label_replace(reviewapp_feedback_total, "who", "$1", "app", "(.*)")',
        'count_values("n", reviewapp_feedback_total) > 1',
        # Patterns and negations need not each find a sample.
        'reviewapp_chain_invocations_total{status=~"e.*", version!="v9", app!~"x|y"}',
        'reviewapp_feedback_total{rating=~"positive|negative", app="support-bot"}',
        # A union of named series, by a label all of them carry.
        'count by (app) ({__name__=~"reviewapp_chain_invocations_total|reviewapp_feedback_total"})',
        # The processes' counters carry the server they were counted in.
        "sum by (app) (rate(reviewapp_feedback_total[5m]))",
        'sum by (server) (reviewapp_feedback_total{server="web-1"})',
    ],
)
def test_the_checker_accepts_what_the_app_exports(expr):
    checker = Checker(EXPORTED)
    checker.check("expr", expr)
    assert checker.problems == []


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        (
            "sum(rate(reviewapp_chain_invocations[5m]))",
            "series 'reviewapp_chain_invocations' is not exported",
        ),
        ('reviewapp_feedback_total{version="v1"}', "label 'version' of a matcher"),
        ("sum by (queue) (reviewapp_feedback_total)", "label 'queue' of sum by/without"),
        ("sum by (app) (sum by (rating) (reviewapp_feedback_total))", "label 'app' of sum by/without"),
        (
            "histogram_quantile(0.9, sum by (app) (rate(reviewapp_chain_latency_seconds_bucket[5m])))",
            "label 'le' of histogram_quantile",
        ),
        (
            "reviewapp_feedback_total / on (version) reviewapp_chain_invocations_total",
            "label 'version' of / on/ignoring (left side)",
        ),
        # One-to-one matching on(app) keeps only app.
        (
            "sum by (rating) (reviewapp_feedback_total / on (app) reviewapp_chain_invocations_total)",
            "label 'rating' of sum by/without",
        ),
        ('reviewapp_feedback_total{rating="postive"}', "rating='postive'"),
        ('reviewapp_feedback_total{rating=~"positive|negatve"}', "rating='negatve'"),
        ('reviewapp_chain_invocations_total{status="errors"}', "status='errors'"),
        ('{__name__=~"reviewapp_.*"}', "named by a pattern"),
        (
            '{__name__=~"reviewapp_feedback_total|reviewapp_feedbacks_total"}',
            "series 'reviewapp_feedbacks_total' is not exported",
        ),
        (
            'count by (rating) ({__name__=~"reviewapp_chain_invocations_total|reviewapp_feedback_total"})',
            "label 'rating' of count by/without",
        ),
        ("sum(rate(reviewapp_feedback_total[5m])", "does not parse"),
        (
            "sum by (rating) (histogram_quantile(0.5, reviewapp_chain_latency_seconds_bucket))",
            "label 'rating' of sum by/without",
        ),
    ],
)
def test_the_checker_catches(expr, problem):
    checker = Checker(EXPORTED)
    checker.check("expr", expr)
    assert any(problem in found for found in checker.problems), checker.problems
