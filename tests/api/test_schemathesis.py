"""schemathesis against a live server, with a manager's token: no 5xx, and every answer as the schema says.

Bounded: a few examples per operation and generation mode, a fixed seed (derandomize), so a run takes
about a minute and fails the same way twice. For a deeper hunt by hand, set SCHEMATHESIS_EXAMPLES
(e.g. 100) and SCHEMATHESIS_SEED (any number: other cases than the fixed ones). DELETEs go to a throwaway app and a throwaway token; the
other writes to a sandbox app, so the app under test keeps its chain and the token keeps working.
"""

import itertools
import os

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from reviewapp.accounts.models import ApiToken
from reviewapp.catalog.models import App, Level, ReviewInstructions
from reviewapp.feedback.services import record_feedback
from reviewapp.jobs.models import Job
from reviewapp.queues.services import create_queue
from tests import factories
from tests.chains.openai_server import OpenAIServer

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "6"))
SEED = os.environ.get("SCHEMATHESIS_SEED")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    positive_data_acceptance,
    negative_data_rejection,
]

# A schema-valid request is answered 2xx, a schema-violating one 400; the exceptions, each with its reason.
CONFIG = {
    # The parser refuses NUL and unpaired surrogates in any text (documented on every 400).
    "generation": {"deterministic": True, "allow-x00": False, "codec": "utf-8"},
    "checks": {
        "positive_data_acceptance": {"expected-statuses": ["2xx"]},
        "negative_data_rejection": {"expected-statuses": ["400"]},
    },
    "operations": [
        {
            # Their paths name requests, exports and files the generator makes up: a missing object is a
            # 404, and a malformed name or number matches no route at all.
            "include-path-regex": r"/(versions|judge-examples|judges|requests|adjudications)/\{",
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ["2xx", "404"]},
                "negative_data_rejection": {"expected-statuses": ["400", "404"]},
            },
        },
        {
            # The queue under test reviews responses one by one: a pairwise queue's routes answer it 404
            # (they are tested with pairwise queues in tests/comparisons).
            "include-path-regex": r"/review-queues/\{queue_id\}/(comparison|preferences)",
            "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "404"]}},
        },
        {
            # The first example cancels the job; the next ones find nothing left to cancel (a 409).
            "include-path-regex": r"/cancel$",
            "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "409"]}},
        },
        {
            # The first example deletes the throwaway object; the next ones find it gone.
            "include-method": "DELETE",
            "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "404"]}},
        },
    ],
}


@pytest.fixture
def world(live_server, settings):
    """The manager's token and the ids the generated requests are pointed at."""
    # Throttling is documented (429) but would starve the run of real answers.
    settings.API_THROTTLE_RATES = dict.fromkeys(getattr(settings, "API_THROTTLE_RATES", {}), "100000/min")
    settings.APP_CREATORS = "managers"
    with OpenAIServer() as server:
        manager = factories.make_user("manager@example.com")
        app = factories.make_app(
            "support-bot", adapter=App.Adapter.HTTP, adapter_config={"url": server.url}, timeout_seconds=5
        )
        sandbox = factories.make_app("sandbox")
        throwaway = factories.make_app("throwaway")
        for each in (app, sandbox, throwaway):
            factories.grant(each, manager, Level.CAN_MANAGE)
        requests = [factories.make_request(app, user=manager) for _ in range(3)]
        queue, _ = create_queue(
            app=app, name="Week 1", created_by=manager, request_ids=[r.pk for r in requests]
        )
        for version in (1, 2):  # a queue's labels may be re-queued from v1
            ReviewInstructions.objects.create(app=app, version=version, markdown=f"v{version}")
        # Reviewed, so the exports have something to select.
        record_feedback(request=requests[0], reviewer=manager, changes={"rating": "positive"})
        job = Job.objects.create(kind="import_traces", app=app, created_by=manager, params={})
        _token, raw = ApiToken.issue(user=manager, name="schemathesis")
        spare, _raw = ApiToken.issue(user=manager, name="to revoke")
        yield {
            "base_url": live_server.url,
            "headers": {"Authorization": f"Bearer {raw}"},
            "slug": {"GET": app.slug, "POST": app.slug, "PUT": sandbox.slug, "PATCH": sandbox.slug},
            "throwaway": throwaway.slug,
            "ids": {"queue_id": queue.pk, "job_id": str(job.pk), "token_id": spare.pk},
            "request_ids": [str(r.pk) for r in requests],
            "email": manager.email,
            "serial": itertools.count(),
        }


def operations(url: str):
    config = schemathesis.Config.from_dict(CONFIG)
    for result in schemathesis.openapi.from_url(url, config=config).get_all_operations():
        yield result.ok()


def path_parameters(operation, world) -> dict:
    names = {p.name for p in operation.path_parameters}
    fixed = {name: value for name, value in world["ids"].items() if name in names}
    if "slug" in names:
        method = operation.method.upper()
        fixed["slug"] = world["throwaway"] if method == "DELETE" else world["slug"][method]
        if "queue_id" in names:  # the queue is the app's
            fixed["slug"] = world["slug"]["GET"]
    return fixed


def made_valid(case, world):
    """A positive case, with the rules a JSON schema cannot state made true.

    Cursors are opaque tokens the server issued (a made-up one is a 400); `until` must come after
    `since`, and a baseline period (novel_/baseline_ since and until) is given whole; a conversation
    ends with a non-empty user message; ids, emails and filters name objects that exist; an adapter takes the settings of its own kind; the MLflow experiments an app may
    import from are linked by staff, so an import sends rows; names are unique per app (a taken one is
    a 409, tested in test_bad_input); a queue's assignment needs as many reviewers as its overlap.
    """
    if isinstance(case.query, dict):
        for name in ("cursor", "after", "before"):
            case.query.pop(name, None)
        if case.path.endswith("/quality"):
            # A window is at most 2,000 buckets (a 400 otherwise): `until` alone keeps the default 30 days.
            case.query.pop("since", None)
        elif "since" in case.query:
            case.query.pop("until", None)
        if case.path.endswith("/items"):  # a page past the last is a 404, as documented
            case.query.pop("page", None)
        # A baseline period is given whole or not at all, and ends after it starts.
        for name in ("novel", "baseline"):
            case.query.pop(f"{name}_since", None)
            case.query.pop(f"{name}_until", None)
    body = case.body if isinstance(case.body, dict) else None
    if body is None:
        return case
    path = case.path
    if path.endswith("/invocations"):
        body["messages"][-1] = {"role": "user", "content": "How do I rotate a token?"}
    elif path.endswith("/feedback"):
        body.update(request_id=world["request_ids"][0], comment="Checked by schemathesis")
        if body.get("reasons"):  # each app lists its own
            body["reasons"] = ["inaccurate"]
        if body.get("retrieval_assessments"):  # the request's chunks are at positions 0 and 1
            body["retrieval_assessments"] = [{**body["retrieval_assessments"][0], "position": 0}]
    elif path.endswith("/apps") or {"adapter", "adapter_config"} & set(body):
        body.update(adapter="demo", adapter_config={})
        if path.endswith("/apps"):  # slugs are unique: another example may have taken this one
            body["slug"] = f"made-{next(world['serial'])}"
    elif path.endswith(("/evaluation-sets", "/judge-examples")):
        for name in ("filters", "request_ids", "judges", "holdout_set"):
            body.pop(name, None)
    elif path.endswith("/fill"):
        # Rules read together (a judge's rules need a judge, unreviewed traffic has no thumbs, versions
        # must be logged ones): each such pair is tested on its own in tests/queues/test_sampling_api.py.
        for name in ("judge", "judge_disagrees", "judge_score_below", "app_versions", "until", "unreviewed"):
            body.pop(name, None)
        body.pop("reviewers", None)
        body.pop("adjudicators", None)  # made-up emails name nobody (a 400, tested on its own)
        if body.get("assignment") in ("round_robin", "named"):
            body.update(overlap=1, reviewers=[world["email"]])
        if "name" in body:
            body["name"] = f"queue-{next(world['serial'])}"
    elif path.endswith("/review-queues") and body.get("mode") == "pairwise":
        # Imported pairs: replaying needs versions the app served (tests/comparisons covers those).
        pairs = [{"prompt": "How do I rotate a token?", "response_a": "One way", "response_b": "Another"}]
        body.clear()
        body.update(mode="pairwise", name=f"queue-{next(world['serial'])}", pairs=pairs)
    elif path.endswith("/requeue"):  # the app's instructions are at v2: v1 is the earlier one
        body["version"] = 1
    elif path.endswith(("/review-queues", "/items")) or "/review-queues/" in path:
        if "request_ids" in body:
            body["request_ids"] = world["request_ids"]
        for name in ("reviewers", "add_reviewers", "adjudicators"):
            if name in body:
                body[name] = [world["email"]]
        body.pop("remove_reviewers", None)  # the assignment may need the one reviewer there is
        if body.get("assignment") in ("round_robin", "named"):  # `overlap` needs as many reviewers
            body.update(overlap=1, reviewers=[world["email"]])
        elif "overlap" in body:  # an edit may find the queue named by an earlier example
            body["assignment"] = "open"
        if "name" in body:  # names are unique per app (a taken one is a 409, tested on its own)
            body["name"] = f"queue-{next(world['serial'])}"
    elif path.endswith("/gold"):  # a gold item needs a request with feedback: the reviewed one
        body["request_ids"] = world["request_ids"][:1]
    elif path.endswith("/custom-judges"):
        body["name"] = f"judge_{next(world['serial'])}"
    elif path.endswith("/judges"):
        # Unique per app; a metric belongs to its kind (blank: the kind's first).
        body.update(name=f"judge_{next(world['serial'])}", metric="")
        body.pop("sample_percent", None)  # only a judge that reads no correction samples live turns
        # Only an LLM judge has a model, and it needs one it may call (the policy, a key that is set).
        for name in ("instructions", "model", "endpoint_url", "key_env"):
            body.pop(name, None)
        if body.get("kind") == "llm":
            body.update(model="m", endpoint_url="https://llm.example.com/v1", metric="safety")
    elif path.endswith("/traces:import") and "mlflow" in body:
        del body["mlflow"]
        body["rows"] = [{"request_id": "imported-1", "request": "question", "response": "answer"}]
    return case


def first_failure(operation, mode, world) -> str | None:
    """Runs the operation's generated cases; the first failure, as text, or None."""
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters(operation, world))
    if mode == GenerationMode.POSITIVE:
        strategy = strategy.map(lambda case: made_valid(case, world))

    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=SEED is None,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the report shows the case as sent
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def run(case):
        case.call_and_validate(
            base_url=world["base_url"], headers=world["headers"], checks=CHECKS, timeout=30
        )

    if SEED is not None:
        run = hypothesis.seed(int(SEED))(run)
    try:
        run()
    # FailureGroup is a BaseExceptionGroup: it names each problem, with the curl to replay.
    except (Exception, FailureGroup) as failure:
        return f"{operation.label} ({mode.value}): {failure}"
    return None


def test_the_api_answers_as_its_schema_says(world, live_server):
    failures = []
    seen = 0
    for operation in operations(f"{live_server.url}/api/schema/?format=json"):
        seen += 1
        modes = [GenerationMode.POSITIVE]
        generated = {p.name for p in operation.path_parameters} - set(path_parameters(operation, world))
        if generated or operation.query or operation.body:
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            failure = first_failure(operation, mode, world)
            if failure:
                failures.append(failure)
    assert seen > 25, "the schema lists fewer operations than the API has"
    assert not failures, "\n\n".join(failures)
