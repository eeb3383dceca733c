"""Log lines: one JSON object each, with the id of the request they belong to (X-Request-ID).

Through Django's test client and the real middleware, filter and formatters; the processes'
own output (gunicorn, a Celery worker and beat) is checked in test_logs_processes.py.
"""

import io
import json
import logging
import os
import re
from contextlib import contextmanager

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import StreamingHttpResponse
from django.test import RequestFactory

from reviewapp.lib import logs

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(autouse=True)
def _outside_any_request():
    """Each test starts outside any request: a streaming response another test never read to
    its end (a WSGI server always closes it; the test client does not) leaves its id set."""
    tokens = logs.enter(None)
    yield
    logs.leave(tokens)


@contextmanager
def captured(formatter: logging.Formatter | None = None):
    """What the root logger's console would print, as a list of lines (our filter and formatter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.ContextFilter())
    handler.setFormatter(formatter or logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    lines: list[str] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        lines.extend(stream.getvalue().splitlines())


def parsed(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines]


def test_a_response_echoes_the_sane_x_request_id_it_was_sent(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="proxy-7f3a.01_b")
    assert response["X-Request-ID"] == "proxy-7f3a.01_b"


@pytest.mark.parametrize(
    "sent",
    [
        "a" * 65,  # too long
        "abc\ndef",  # a second log line
        "abc def",
        'abc"},{"level":"ERROR',  # forged JSON
        "<script>",
        "caf\u00e9",
        "",
    ],
)
def test_a_bad_x_request_id_is_replaced_by_a_generated_one(client, sent):
    with captured() as lines:
        response = client.get("/no-such-page/", HTTP_X_REQUEST_ID=sent)

    assert response.status_code == 404
    assert GENERATED.fullmatch(response["X-Request-ID"])
    [line] = [line for line in parsed(lines) if line["logger"] == "django.request"]
    assert line["request_id"] == response["X-Request-ID"]


def test_each_request_without_an_id_gets_a_new_one(client):
    first, second = client.get("/healthz")["X-Request-ID"], client.get("/healthz")["X-Request-ID"]
    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second) and first != second


def test_django_s_line_about_a_request_carries_its_id_and_a_line_after_it_none(client):
    with captured() as lines:
        client.get("/no-such-page/", HTTP_X_REQUEST_ID="req-404")
        logging.getLogger("reviewapp.tests").warning("between requests")

    found, between = parsed(lines)
    assert found["logger"] == "django.request" and found["level"] == "WARNING"
    assert found["message"] == "Not Found: /no-such-page/"
    assert found["request_id"] == "req-404" and found["status_code"] == 404
    assert between["message"] == "between requests" and "request_id" not in between


def test_lines_logged_while_a_streaming_response_is_sent_carry_the_request_s_id(db):
    log = logging.getLogger("reviewapp.tests.stream")

    def events():
        for n in range(3):
            log.warning("event %s", n)
            yield f"data: {n}\n\n"

    middleware = logs.RequestIdMiddleware(lambda request: StreamingHttpResponse(events()))
    request = RequestFactory().get("/stream", HTTP_X_REQUEST_ID="sse-1")
    with captured() as lines:
        response = middleware(request)
        body = b"".join(response.streaming_content)
        response.close()
        log.warning("after the response")

    assert body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert response["X-Request-ID"] == "sse-1"
    *during, after = parsed(lines)
    assert [(line["message"], line["request_id"]) for line in during] == [
        ("event 0", "sse-1"),
        ("event 1", "sse-1"),
        ("event 2", "sse-1"),
    ]
    assert "request_id" not in after


def test_a_json_line_has_time_level_logger_message_and_the_task_when_in_one():
    tokens = logs.enter("req-1", ("task-9", "exports.export_evaluation_set"))
    try:
        with captured() as lines:
            logging.getLogger("reviewapp.exports").info(
                "wrote %d rows\nto %s", 3, "golden", extra={"rows": 3}
            )
    finally:
        logs.leave(tokens)

    [line] = lines
    assert list(json.loads(line)) == [
        "time",
        "level",
        "logger",
        "message",
        "rows",
        "request_id",
        "task_id",
        "task_name",
    ]
    assert json.loads(line) | {"time": None} == {
        "time": None,
        "level": "INFO",
        "logger": "reviewapp.exports",
        "message": "wrote 3 rows\nto golden",
        "rows": 3,
        "request_id": "req-1",
        "task_id": "task-9",
        "task_name": "exports.export_evaluation_set",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", json.loads(line)["time"])


def test_an_exception_is_a_field_of_its_one_line():
    with captured() as lines:
        try:
            {}["missing"]
        except KeyError:
            logging.getLogger("reviewapp.tests").exception("lookup failed")

    [line] = lines
    logged = json.loads(line)
    assert logged["message"] == "lookup failed"
    assert logged["exception"].startswith("Traceback (most recent call last):")
    assert "KeyError: 'missing'" in logged["exception"]


def test_a_text_line_shows_the_request_id_for_a_person_to_read():
    tokens = logs.enter("req-2")
    try:
        with captured(logs.TextFormatter()) as lines:
            logging.getLogger("reviewapp.chat").warning("chain slow")
    finally:
        logs.leave(tokens)
    with captured(logs.TextFormatter()) as outside:
        logging.getLogger("reviewapp.chat").warning("no request")

    assert re.fullmatch(r"\S+ \S+ WARNING reviewapp\.chat \[req-2\] chain slow", lines[0])
    assert re.fullmatch(r"\S+ \S+ WARNING reviewapp\.chat no request", outside[0])


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [("LOG_FORMAT", "xml", "LOG_FORMAT must be json or text, not 'xml'"), ("LOG_LEVEL", "LOUD", "LOG_LEVEL")],
)
def test_an_unknown_log_format_or_level_stops_start_up_naming_it(monkeypatch, name, value, words):
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=re.escape(words)):
        logs.log_format() if name == "LOG_FORMAT" else logs.log_level()


def test_json_is_the_default_format_and_text_is_chosen_by_name(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert logs.log_format() == "json"
    monkeypatch.setenv("LOG_FORMAT", " Text ")
    assert logs.log_format() == "text"


# Standard error as log lines (stderr_to_log), as the web and the worker log it in JSON.


@contextmanager
def stderr_lines():
    """A stream like stderr_to_log's, and the messages it logged."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("tests.stderr")
    logger.addHandler(handler)
    logger.propagate = False
    messages: list[str] = []
    try:
        yield logs._LinesToLog(io.StringIO(), logger), messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        messages.extend(record.getMessage() for record in records)


def test_each_line_written_to_stderr_is_one_log_line_however_it_was_cut():
    with stderr_lines() as (stream, messages):
        stream.write("Traceback (most recent call last):\n  File")
        stream.write(' "x.py", line 1\r\n')
        stream.write("Exception in thread\r")  # "\r\n" cut between two writes
        stream.write("\n\n")

    assert messages == ["Traceback (most recent call last):", '  File "x.py", line 1', "Exception in thread"]


def test_a_progress_bar_is_logged_once_as_it_was_last_drawn():
    """A bar redraws its line after a "\\r" (tqdm's way) many times a second: one line, not
    one ever-growing line nor one per redraw."""
    with stderr_lines() as (stream, messages):
        for done in range(0, 101):
            stream.write(f"\rUploading artifacts: {done:3d}%|{'#' * (done // 10):10s}| {done}/100")
        stream.write("\n")
        stream.write("after the bar\n")

    assert messages == ["Uploading artifacts: 100%|##########| 100/100", "after the bar"]


def test_a_line_without_an_end_is_logged_in_pieces_not_held():
    piece = "x" * 1000
    with stderr_lines() as (stream, messages):
        for _ in range(200):
            stream.write(piece)
        stream.write("\n")

    assert len(messages) >= 3, [len(m) for m in messages]
    assert all(len(m) <= logs._LinesToLog.MAX_LINE + len(piece) for m in messages)
    assert "".join(messages) == piece * 200


def test_mlflow_draws_no_progress_bars_in_the_logs():
    # Set as the settings load, unless the environment says otherwise.
    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"
