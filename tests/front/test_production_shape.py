"""The deploy shape, proven without a container engine: docker/compose.yaml's command lines of
migrate, web, worker and beat run as real processes on loopback against PostgreSQL and Redis,
with docker/.env.example's production environment (DEBUG off, TLS expected in front), and a
team's day goes through them: sign in, chat, feedback, an export the worker makes, the download.
`make serve-prod`, `make worker` and `make beat` run the same command lines.
"""

import json
import os
import re
import secrets
import shlex
import subprocess
from http.cookies import SimpleCookie

import pytest
import requests
import yaml

from reviewapp.celery import app as celery_app
from reviewapp.requestlog.models import Request
from tests.front.example_env import example_environment
from tests.processes import (
    BIN,
    ROOT,
    OwnRedis,
    database_url,
    free_port,
    process,
    tail,
    wait_listening,
    wait_until,
)

COMPOSE = ROOT / "docker" / "compose.yaml"
SERVICES = ("migrate", "web", "worker", "beat")
APP = "docs-assistant"  # the demo app load_demo installs
QUESTION = "How do I export an evaluation set?"
CORRECTION = "Open Curate, pick the reviewed requests and press Export evaluation set."

# compose's interpolation: $$ is a literal $; ${NAME}, ${NAME:-default}, ${NAME:?error}, $NAME.
VARIABLE = re.compile(
    r"\$(?:(?P<dollar>\$)|\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>\w+))"
)


def compose_commands() -> dict[str, list[str]]:
    """The command of each application service, as compose.yaml states it (before interpolation)."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    return {name: services[name]["command"] for name in SERVICES}


def interpolate(text: str, env: dict[str, str]) -> str:
    """`text` as compose reads it with `env` as its .env file."""

    def value(match: re.Match) -> str:
        if match["dollar"]:
            return "$"
        name, op = match["name"] or match["bare"], match["op"]
        found = env.get(name)
        unset = found is None or (found == "" and op and op.startswith(":"))
        if op and op.endswith("-"):
            return match["arg"] if unset else found
        if op and op.endswith("?"):
            assert not unset, f"compose would refuse to start: {match['arg']}"
        return found or ""

    return VARIABLE.sub(value, text)


def make_lines(target: str) -> list[str]:
    """The commands `make TARGET` would run, the virtualenv's prefix taken off, as a container names them."""
    # Under `make test` this is a sub-make, which would also print "Entering directory" lines.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", target],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [line.replace(".venv/bin/", "") for line in done.stdout.splitlines()]


def the_line(lines: list[str], word: str) -> str:
    [line] = [line for line in lines if word in line]
    return line


def test_the_make_targets_run_the_command_lines_of_the_compose_services():
    # As written (`$$` is compose's `$`): variables are left to compose, and to the shell under make.
    compose = {name: [arg.replace("$$", "$") for arg in argv] for name, argv in compose_commands().items()}
    serve_prod = make_lines("serve-prod")

    # serve-prod: what the image build does, then the migrate service, then the web.
    assert the_line(serve_prod, "collectstatic") == "python manage.py collectstatic --noinput"
    assert compose["migrate"][:2] == ["sh", "-c"]
    assert the_line(serve_prod, "manage.py migrate") == compose["migrate"][2]
    web = shlex.split(the_line(serve_prod, "gunicorn"))
    # The address comes from the environment, as compose.yaml gives the web container HOST and PORT.
    assert [arg.partition("=")[0] for arg in web[:2]] == ["HOST", "PORT"]
    assert web[2:] == compose["web"]
    # One after the other, in this order (make may print its prerequisites' lines first).
    steps = [i for i, line in enumerate(serve_prod) if re.search("collectstatic|migrate|gunicorn", line)]
    assert steps == list(range(steps[0], steps[0] + 3)), serve_prod

    assert shlex.split(make_lines("worker")[-1]) == compose["worker"]
    assert shlex.split(make_lines("beat")[-1]) == compose["beat"]


def test_interpolation_reads_like_compose():
    env = {"SET": "x", "EMPTY": ""}
    assert (
        interpolate("$$HOME ${SET} $SET ${EMPTY:-d} ${EMPTY-d} ${NONE-d} ${NONE}", env) == "$HOME x x d  d "
    )
    with pytest.raises(AssertionError, match="set it"):
        interpolate("${EMPTY:?set it}", env)


class Browser:
    """A browser reaching the web through the TLS-terminating proxy: every request arrives over
    plain http with `X-Forwarded-Proto: https`, and the browser, which speaks https to the proxy,
    sends its Secure cookies (requests would keep them from an http URL, so they are kept here)."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.origin = f"https://127.0.0.1:{port}"
        self.cookies: dict[str, str] = {}
        self.secure: dict[str, bool] = {}

    def request(self, method: str, path: str, headers: dict | None = None, **kwargs) -> requests.Response:
        # What a proxy such as nginx sends by default (HTTP/1.0 upstream): one request a connection.
        # (gunicorn 26's threaded workers wait their whole graceful timeout for an idle keep-alive
        # client when stopped.)
        headers = {"X-Forwarded-Proto": "https", "Connection": "close", **(headers or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = requests.request(
            method, self.base + path, headers=headers, allow_redirects=False, timeout=180, **kwargs
        )
        for header in response.raw.headers.getlist("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
                    self.secure[name] = bool(morsel["secure"])
        return response

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data) -> requests.Response:
        # What a browser's form post carries; Django checks the Origin against the https host.
        headers = {
            "X-CSRFToken": self.cookies["csrftoken"],
            "Origin": self.origin,
            "Referer": self.origin + path,
        }
        return self.request("POST", path, headers=headers, data=data)

    def follow(self, response: requests.Response) -> requests.Response:
        assert response.status_code == 302, (response.status_code, response.text[:2000])
        location = response.headers["Location"]
        assert location.startswith("/"), location
        return self.get(location)


def production_env(tmp_path, redis_url: str, port: int) -> dict[str, str]:
    """docker/.env.example with what compose.yaml and the deployment would provide: a real key,
    the test database, a Redis, this test run's MLflow store, loopback, and static files collected
    into a folder of the test's own."""
    return example_environment(
        tmp_path / "data",
        PATH=f"{BIN}:{os.environ['PATH']}",  # the image's PATH: python, gunicorn and celery
        DATABASE_URL=database_url(),
        REDIS_URL=redis_url,
        MLFLOW_TRACKING_URI=os.environ["MLFLOW_TRACKING_URI"],
        MLFLOW_ARTIFACT_ROOT=os.environ["MLFLOW_ARTIFACT_ROOT"],
        STATIC_ROOT=str(tmp_path / "static"),
        # The smoke flow signs in as a demo user (the example keeps the demo off for real installs).
        LOAD_DEMO="true",
        DEMO_PASSWORD=secrets.token_urlsafe(16),
        HOST="127.0.0.1",
        PORT=str(port),
        # So this test sees beat's periodic work go through the worker within seconds.
        FEEDBACK_MLFLOW_SWEEP_SECONDS="2",
    )


def run_once(argv: list[str], env: dict[str, str], log) -> str:
    with log.open("a") as out:
        done = subprocess.run(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=600)
    assert done.returncode == 0, tail(log)
    return log.read_text()


@pytest.fixture
def redis_url(tmp_path):
    """The suite's Redis (its queue emptied first), or one of this test's own on the embedded run."""
    if os.environ.get("REDIS_URL"):
        celery_app.control.purge()
        yield os.environ["REDIS_URL"]
    else:
        with OwnRedis(tmp_path / "redis", persist=True) as redis:
            yield redis.url


@pytest.mark.worker
# The whole production stack from a fresh database (migrate, the demo with its judges, web,
# worker, beat): several minutes on a loaded 2-CPU machine, beyond the suite's default 300 s.
@pytest.mark.timeout(600)
def test_the_compose_command_lines_serve_sign_in_chat_feedback_export_and_download(
    transactional_db, demo_model_uri, redis_url, tmp_path
):
    port = free_port()
    env = production_env(tmp_path, redis_url, port)
    commands = {name: [interpolate(arg, env) for arg in argv] for name, argv in compose_commands().items()}
    logs = {name: tmp_path / f"{name}.log" for name in (*SERVICES, "collectstatic")}

    # What the image build does, then the one-shot migrate service (migrations and the demo).
    run_once(["python", "manage.py", "collectstatic", "--noinput"], env, logs["collectstatic"])
    assert "Demo loaded" in run_once(commands["migrate"], env, logs["migrate"])

    with (
        process(commands["worker"], env, logs["worker"]),
        process(commands["beat"], env, logs["beat"]),
        process(commands["web"], env, logs["web"]) as web,
    ):
        wait_listening(port, web, logs["web"])
        browser = Browser(port)

        # The load balancer's health check goes over plain http; everything else is sent to https.
        health = requests.get(f"{browser.base}/healthz", timeout=60)
        assert health.status_code == 200, health.text
        assert health.json()["checks"]["database"]["status"] == "ok"
        plain = requests.get(f"{browser.base}/accounts/login/", allow_redirects=False, timeout=60)
        assert plain.status_code == 301
        assert plain.headers["Location"] == f"https://127.0.0.1:{port}/accounts/login/"

        # Sign in through the allauth form, as the demo's manager.
        login = browser.get("/accounts/login/")
        assert login.status_code == 200
        assert login.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
        signed_in = browser.post(
            "/accounts/login/", {"login": "manager@example.com", "password": env["DEMO_PASSWORD"]}
        )
        assert signed_in.status_code == 302, signed_in.text[:2000]
        assert {"csrftoken", "sessionid"} <= browser.secure.keys() and all(browser.secure.values())

        assert signed_in.headers["Location"] == "/"

        # Chat with the demo app through the web chat (the form without JavaScript).
        chat = browser.get(f"/apps/{APP}/chat/")
        assert chat.status_code == 200
        # Its static files are the hashed ones of collectstatic's manifest, cached for good.
        stylesheet = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', chat.text)
        assert stylesheet, chat.text[:2000]
        css = browser.get(stylesheet[1])
        assert css.status_code == 200 and "immutable" in css.headers["Cache-Control"]
        conversation = re.search(r'name="conversation_id" value="([^"]+)"', chat.text)[1]
        answered = browser.follow(
            browser.post(f"/apps/{APP}/chat/", {"message": QUESTION, "conversation_id": conversation})
        )
        assert answered.status_code == 200
        [request_id] = set(re.findall(rf"/apps/{APP}/requests/([0-9a-f-]{{36}})/feedback/", answered.text))
        turn = Request.objects.get(request_id=request_id)
        assert turn.request_text == QUESTION and turn.status == Request.Status.OK and turn.response
        assert turn.user.email == "manager@example.com"

        # Feedback on that turn through the web panel: thumbs down and a corrected answer.
        panel = f"/apps/{APP}/requests/{request_id}/feedback/"
        for data in (
            {"field": "rating", "rating": "negative"},
            {"field": "corrected_response", "corrected_response": CORRECTION},
        ):
            saved = browser.post(panel, data)
            assert saved.status_code == 200, saved.text[:2000]

        # An evaluation-set export of that turn, made by the worker process.
        started = browser.post(
            f"/apps/{APP}/curate/evaluation-set/",
            {"name": "smoke", "scope": "selected", "rule": "majority", "request_ids": request_id},
        )
        assert started.status_code == 302, started.text[:2000]
        job_id = re.fullmatch(r"/jobs/([0-9a-f-]{36})/", started.headers["Location"])[1]

        def finished():
            job = browser.get(f"/api/v1/jobs/{job_id}").json()
            return job if job["status"] in ("succeeded", "failed") else None

        job = wait_until(finished, "the worker to finish the export", timeout=180, every=0.5)
        assert job["status"] == "succeeded", (job, tail(logs["worker"]))

        download = browser.get(f"/apps/{APP}/exports/sets/smoke/v1/files/evaluation_set.jsonl")
        assert download.status_code == 200
        assert "attachment" in download.headers["Content-Disposition"]
        rows = [json.loads(line) for line in download.text.splitlines()]
        assert rows == [
            {
                "request_id": request_id,
                "request": QUESTION,
                "expected_response": CORRECTION,
                "expected_retrieved_context": [],
            }
        ]

        # beat's periodic task went through Redis to the worker.
        wait_until(
            lambda: re.search(
                r"Task reviewapp\.feedback\.tasks\.sweep_mlflow_sync\[.*\] succeeded",
                tail(logs["worker"], 100_000),
            ),  # fmt: skip
            "beat's periodic task to run on the worker",
            timeout=60,
        )
        # Nothing failed while serving. (Not checked after SIGTERM: Celery 5's beat can log a
        # "closed shelf" traceback when a signal lands mid-tick; harmless, the schedule is saved.)
        for name in ("web", "worker", "beat"):
            assert "Traceback" not in logs[name].read_text(), tail(logs[name])
