"""Chat overhead: invocation latency through the app minus the chain's own (a script printing a table).

    .venv/bin/python benchmarks/chat_overhead.py [--calls 300] [--workers 2] [--sqlite] [--judge-percent 100]
        [--stages] [--keep-alive-streams]

Starts a zero-latency chain, the small OpenAI-compatible server of the tests
(tests/chains/openai_server.py), on a free loopback port. Creates a scratch database
(BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/reviewapp_bench_chat, dropped
and created; `--sqlite` uses a temporary SQLite file instead), migrates it, seeds an app whose
HTTP adapter points at that chain, a querier and an API token, and starts gunicorn (sync workers)
on another free port. Then, one call at a time and interleaved, it times N direct calls to the
chain and N `POST /api/v1/apps/<slug>/invocations` through the app (each a logged turn), both
non-streaming and streaming (`stream: true`, to the final event). Overhead = p50 through the app
minus p50 direct. Target: overhead <= 8 ms p50. `--judge-percent P` gives the app a
groundedness judge sampling P % of new turns (judged by a worker, none started here: what is
measured is what sampling adds to the chat, which should be nothing beyond noise).

`--keep-alive-streams`: the chain streams as most real servers do, a chunked body on a connection
it keeps open, rather than closing the connection after each stream.

`--stages`: where the time goes, inside the workers: the median time of each named stage of a
request (token authentication, throttles, the app lookup, the chain call, logging the turn...), by
kind of request. gunicorn then reads this module as its config file for the hooks at the end.
"""

import argparse
import collections
import functools
import http.client
import importlib
import inspect
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _scratch import flush_redis, free_port, pct, recreate_database, start_gunicorn, tear_down, wait_until_up  # noqa: E402

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"  # flushed by the run
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/reviewapp_bench_chat"
SLUG = "bench-chat"
MESSAGES = [{"role": "user", "content": "How do I rotate an API token?"}]
OVERHEAD_TARGET_MS = 8


def seed(chain_url: str, judge_percent: float = 0) -> str:
    """Migrate and seed through the ORM; returns the querier's raw API token."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from reviewapp.accounts.models import ApiToken, User
    from reviewapp.catalog.models import App, Grant, Level

    app = App.objects.create(
        slug=SLUG,
        name="Bench chat",
        adapter=App.Adapter.HTTP,
        adapter_config={"url": chain_url, "kind": "openai"},
    )
    user = User.objects.create_user("querier@example.com", "pw")
    Grant.objects.create(app=app, user=user, level=Level.CAN_QUERY)
    if judge_percent:
        from reviewapp.judges.services import create_judge

        create_judge(
            app=app,
            user=None,
            name="grounded",
            kind="groundedness",
            sample_percent=judge_percent,
            daily_cap=10**6,
        )
    return ApiToken.issue(user=user, name="bench")[1]


class Caller:
    """One keep-alive connection; `post` returns (seconds, status, body) for a whole answer."""

    def __init__(self, port: int, headers: dict):
        self.port = port
        self.headers = {"Content-Type": "application/json", **headers}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: dict | None, method: str = "POST") -> tuple[float, int, bytes]:
        payload = json.dumps(body) if body is not None else None
        started = time.perf_counter()
        self.conn.request(method, path, body=payload, headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()  # a stream is read to its end: the final event
        elapsed = time.perf_counter() - started
        if response.will_close:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        return elapsed, response.status, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sqlite", action="store_true", help="a temporary SQLite file, not PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="do not drop the scratch database")
    parser.add_argument("--judge-percent", type=float, default=0, help="a judge sampling this %% of turns")
    parser.add_argument(
        "--keep-alive-streams", action="store_true", help="the chain keeps its connection open after a stream"
    )
    parser.add_argument(
        "--stages", action="store_true", help="time the stages of each request in the workers"
    )
    args = parser.parse_args()

    from tests.chains.openai_server import OpenAIServer

    scratch = tempfile.mkdtemp(prefix="reviewapp-bench-chat-")
    url = "" if args.sqlite else os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if url:
        recreate_database(url)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "reviewapp.settings",
        "VAR_DIR": scratch,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DB_CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        # The benchmark's chain listens on loopback, which the egress policy refuses unless listed.
        "CHAIN_URL_ALLOW": "127.0.0.1",
        # The calls are the load under test: the per-user budgets (60 invocations a minute by
        # default) would answer most of them 429.
        "API_THROTTLE_INVOCATIONS": "100000/min",
        "API_THROTTLE_USER": "100000/min",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    if url:  # as in production, the throttles count in Redis (the embedded default: in files)
        env["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
        flush_redis(env["REDIS_URL"])
    if url:
        env["DATABASE_URL"] = url
    options = ["--workers", str(args.workers)]
    if args.stages:
        env[STAGES_DIR] = tempfile.mkdtemp(prefix="stages-", dir=scratch)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "benchmarks"), env.get("PYTHONPATH")]))
        options += ["--config", f"python:{Path(__file__).stem}"]
    os.environ.clear()
    os.environ.update(env)
    server = None
    with OpenAIServer() as chain:
        chain.keep_alive_streams = args.keep_alive_streams
        try:
            token = seed(chain.url, args.judge_percent)
            port = free_port()
            server = start_gunicorn(port, env, *options)
            wait_until_up(port)
            direct = Caller(chain.server_address[1], {})
            through = Caller(port, {"Authorization": f"Bearer {token}"})
            api_path = f"/api/v1/apps/{SLUG}/invocations"
            kinds = {
                "answer": ({"model": "m", "messages": MESSAGES}, {"messages": MESSAGES}),
                "stream": (
                    {"model": "m", "messages": MESSAGES, "stream": True},
                    {"messages": MESSAGES, "stream": True},
                ),
            }
            times: dict[str, dict[str, list[float]]] = {k: {"direct": [], "app": []} for k in kinds}
            errors = 0
            baseline: list[float] = []
            for n in range(args.calls + 20):  # the first 20 warm up every worker and connection
                # For scale: an authenticated API call of the same app that calls no chain.
                b, b_status, _ = through.post(f"/api/v1/apps/{SLUG}", None, method="GET")
                if b_status != 200:
                    errors += 1
                elif n >= 20:
                    baseline.append(b)
                for kind, (chain_body, app_body) in kinds.items():
                    d, d_status, _ = direct.post("/v1/chat/completions", chain_body)
                    a, a_status, data = through.post(api_path, app_body)
                    ok = a_status == 200 and (
                        b"event: done" in data if kind == "stream" else b'"response"' in data
                    )
                    if d_status != 200 or not ok:
                        errors += 1
                        continue
                    if n >= 20:
                        times[kind]["direct"].append(d)
                        times[kind]["app"].append(a)

            import django.db

            from reviewapp.requestlog.models import Request

            django.db.connections.close_all()
            logged = Request.objects.filter(app__slug=SLUG, status="ok").count()
            in_app = [
                r / 1000 for r in Request.objects.filter(app__slug=SLUG).values_list("latency_ms", flat=True)
            ]
            print(
                f"\nChat overhead: {api_path} on gunicorn ({args.workers} sync workers), "
                f"{'SQLite' if not url else 'PostgreSQL'}, a zero-latency OpenAI-compatible chain"
                f"{' keeping its connections after streams' if args.keep_alive_streams else ''}, "
                f"a judge sampling {args.judge_percent:g}% of turns"
            )
            print(f"{'':<34}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
            print("-" * 74)
            for kind in kinds:
                for who in ("direct", "app"):
                    values = times[kind][who]
                    label = f"{kind}: {'chain alone' if who == 'direct' else 'through the app'}"
                    print(
                        f"{label:<34}{pct(values, 50):>10.2f}{pct(values, 90):>10.2f}"
                        f"{pct(values, 99):>10.2f}{statistics.mean(values) * 1000:>10.2f}"
                    )
            label = "no chain: GET /apps/<slug>"
            print(
                f"{label:<34}{pct(baseline, 50):>10.2f}{pct(baseline, 90):>10.2f}"
                f"{pct(baseline, 99):>10.2f}{statistics.mean(baseline) * 1000:>10.2f}"
            )
            print("-" * 74)
            verdicts = []
            for kind in kinds:
                overhead = pct(times[kind]["app"], 50) - pct(times[kind]["direct"], 50)
                verdicts.append(overhead <= OVERHEAD_TARGET_MS)
                print(f"{'overhead p50, ' + kind:<34}{overhead:>10.2f}")
            print(f"{'chain latency logged by the app p50':<34}{pct(in_app, 50):>10.2f}")
            print(f"calls per kind: {args.calls}; turns logged ok: {logged}; errors: {errors}")
            # The direct calls' and the workers': one per call where connections are not kept.
            print(f"connections the chain accepted: {chain.connections}")
            verdict = "PASS" if all(verdicts) and not errors else "FAIL"
            print(f"target overhead <= {OVERHEAD_TARGET_MS} ms p50: {verdict}")
        finally:
            tear_down(server, url, args.keep)
    if args.stages:
        print_stages(env[STAGES_DIR])


# --- --stages: gunicorn hooks timing named stages of each request in the workers ---------------

STAGES_DIR = "BENCH_CHAT_STAGES_DIR"
# (module, attribute, label); a stage whose function is gone is left out, not an error.
STAGES = (
    ("rest_framework.views", "APIView.dispatch", "the API view (DRF dispatch)"),
    ("reviewapp.accounts.authentication", "BearerTokenAuthentication.authenticate", "token authentication"),
    ("rest_framework.views", "APIView.check_throttles", "throttles"),
    ("reviewapp.chat.api", "get_app_for", "the app and the user's level"),
    ("reviewapp.chat.api", "InvocationIn.is_valid", "the input's validation"),
    ("reviewapp.chains.http_endpoint", "HttpEndpointAdapter.invoke", "the chain call"),
    ("reviewapp.chains.http_endpoint", "HttpEndpointAdapter.stream", "the chain call"),
    ("reviewapp.requestlog.services", "log_turn", "logging the turn (INSERT, COMMIT, after commit)"),
    ("django.db.backends.base.base", "BaseDatabaseWrapper.commit", "  of which COMMIT"),
    ("reviewapp.judges.online", "after_turn", "  of which judge sampling"),
    (
        "django.db.backends.base.base",
        "BaseDatabaseWrapper.close_if_health_check_failed",
        "database health check",
    ),
)
TOTAL = "the whole request, in the worker"
_request: dict[str, float] = {}
_times: dict[str, dict[str, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))


def _timed(function, label: str):
    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def steps(*args, **kwargs):
            generator = function(*args, **kwargs)
            while True:
                started = time.perf_counter()
                try:
                    item = next(generator)
                except StopIteration:
                    return
                finally:
                    _request[label] = _request.get(label, 0) + time.perf_counter() - started
                yield item

        return steps

    @functools.wraps(function)
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            _request[label] = _request.get(label, 0) + time.perf_counter() - started

    return timed


def post_fork(server, worker) -> None:
    for module_name, attribute, label in STAGES:
        owner = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        if owner is not None and callable(getattr(owner, name, None)):
            setattr(owner, name, _timed(getattr(owner, name), label))


def pre_request(worker, req) -> None:
    _request.clear()
    _request["_started"] = time.perf_counter()


def post_request(worker, req, environ, resp) -> None:
    elapsed = time.perf_counter() - _request.pop("_started", time.perf_counter())
    streamed = any(k.lower() == "content-type" and "event-stream" in v for k, v in resp.headers)
    kind = f"{req.method} {req.path.rsplit('/', 1)[-1]}{' (stream)' if streamed else ''}"
    for label, seconds in {TOTAL: elapsed, **_request}.items():
        _times[kind][label].append(seconds)


def worker_exit(server, worker) -> None:
    folder = os.environ.get(STAGES_DIR)
    if folder:
        Path(folder, f"{os.getpid()}.json").write_text(json.dumps(_times))


def print_stages(folder: str) -> None:
    merged: dict[str, dict[str, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for path in Path(folder).glob("*.json"):
        for kind, stages in json.loads(path.read_text()).items():
            for label, values in stages.items():
                merged[kind][label] += values
    order = [TOTAL, *dict.fromkeys(label for _, _, label in STAGES)]
    for kind, stages in sorted(merged.items()):
        warm = len(stages[TOTAL]) - 20  # the first requests of each kind warm the workers
        if warm <= 0:  # the start-up's schema requests
            continue
        print(
            f"\nStages of {kind}, medians of {warm} requests (a stage's median is over the requests it ran in)"
        )
        for label in order:
            values = stages.get(label, [])[20:]
            if values:
                print(f"  {label:<50}{statistics.median(values) * 1000:>8.2f} ms")


if __name__ == "__main__":
    main()
