"""Log lines with the id of the request they belong to: one JSON object a line, or text for a person.

The web, gunicorn's own lines and the Celery worker and beat all log through `logging_config()`:
a console handler whose filter puts the current request id (and, in a task, the task's id and
name) on every record. The id comes from a sane `X-Request-ID` (a proxy's, so its lines and ours
match) or is made here, lives in a context variable for the request, and goes back in the
response's `X-Request-ID`. Celery carries it to the tasks a request starts (reviewapp.lib.task_logs).
"""

import contextlib
import contextvars
import copy
import io
import logging
import logging.config
import os
import re
import sys
import threading
import uuid
from datetime import UTC, datetime

from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

HEADER = "X-Request-ID"
FORMATS = ("json", "text")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# The header is the client's: it ends up in every log line of the request, so only a short token
# of these characters is taken (no spaces, quotes or line breaks to forge or split a line).
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

_LINE_ENDS = re.compile(r"(\r\n|\r|\n)")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_task: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("task", default=None)


def log_format() -> str:
    value = os.environ.get("LOG_FORMAT", "json").strip().lower() or "json"
    if value not in FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {value!r}")
    return value


def log_level() -> str:
    value = os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if value not in LEVELS:
        raise ImproperlyConfigured(f"LOG_LEVEL must be one of {', '.join(LEVELS)}, not {value!r}")
    return value


def new_request_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str | None:
    """`value` when it is fit to be a request id, else None."""
    return value if value and _SANE_ID.fullmatch(value) else None


def current_request_id() -> str | None:
    return _request_id.get()


def enter(request_id: str | None, task: tuple[str, str] | None = None) -> tuple:
    """Make `request_id` (and a task's (id, name)) the current one; `leave()` undoes it."""
    return _request_id.set(request_id), _task.set(task)


def leave(tokens: tuple) -> None:
    request_token, task_token = tokens
    _task.reset(task_token)
    _request_id.reset(request_token)


class RequestIdMiddleware:
    """First in MIDDLEWARE: every line logged for the request, up to the response's close (Django
    logs 4xx/5xx after the middleware has returned, streaming bodies are sent later), carries its id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = sane_request_id(request.headers.get(HEADER)) or new_request_id()
        request.request_id = request_id
        tokens = enter(request_id)
        try:
            response = self.get_response(request)
        except BaseException:
            leave(tokens)
            raise
        response[HEADER] = request_id
        # Closed by the server once the body is sent (as Django closes the request itself).
        response._resource_closers.append(lambda: _forget(tokens))
        if response.streaming and getattr(response, "file_to_stream", None) is None:
            # Iterated by the server (ASGI: maybe in another context); the chat's SSE logs meanwhile.
            if response.is_async:
                response.streaming_content = _async_chunks_with(request_id, response.streaming_content)
            else:
                response.streaming_content = _chunks_with(request_id, response.streaming_content)
        return response


def _forget(tokens: tuple) -> None:
    # ValueError: closed in another context (ASGI), which ends with the response anyway.
    with contextlib.suppress(ValueError):
        leave(tokens)


def _chunks_with(request_id: str, chunks):
    iterator = iter(chunks)
    while True:
        tokens = enter(request_id)
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        finally:
            leave(tokens)
        yield chunk


async def _async_chunks_with(request_id: str, chunks):
    iterator = aiter(chunks)
    while True:
        tokens = enter(request_id)
        try:
            chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        finally:
            leave(tokens)
        yield chunk


class ContextFilter(logging.Filter):
    """Puts request_id, task_id and task_name on every record (None when there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = _request_id.get()
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            # gunicorn logs the access line after the response: the id is the one it answered with.
            request_id = sane_request_id(record.args.get("{x-request-id}o")) or request_id
        record.request_id = request_id
        task_id, task_name = _task.get() or (None, None)
        record.task_id, record.task_name = task_id, task_name
        return True


_CONTEXT_FIELDS = ("request_id", "task_id", "task_name")
# Django's request object (on django.request's records) and runserver's time say nothing new.
_NOT_LOGGED = [*RESERVED_ATTRS, "request", "server_time"]


class JsonFormatter(_LibraryJsonFormatter):
    """One JSON object a line: time, level, logger, message, the request id and task when there are
    any, what the caller passed as `extra`, and an exception's traceback as `exception`."""

    def __init__(self, **kwargs):
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={
                "levelname": "level",
                "name": "logger",
                "exc_info": "exception",
                "stack_info": "stack",
            },
            reserved_attrs=_NOT_LOGGED,
            **kwargs,
        )

    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        super().add_fields(log_data, record, message_dict)
        for field in _CONTEXT_FIELDS:
            if log_data.get(field) is None:
                log_data.pop(field, None)
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            log_data.update(_access_fields(record.args))


def _access_fields(atoms: dict) -> dict:
    """gunicorn's access-log atoms as fields (its own quoting of them is for a text line)."""
    status = str(atoms["s"])
    return {
        "remote_addr": atoms["h"],
        "method": atoms["m"],
        "path": atoms["U"],
        "query": atoms["q"] or None,
        "status": int(status) if status.isdigit() else status,
        "bytes": atoms["B"],
        "duration_ms": atoms["M"],
        "user_agent": atoms["a"],
    }


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [request id] message` for a console a person reads (`make run`)."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(context)s%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        context = [getattr(record, "request_id", None), getattr(record, "task_name", None)]
        record.context = "".join(f"[{part}] " for part in context if part)
        return super().format(record)


class ConsoleHandler(logging.StreamHandler):
    """Standard error; the real one when it is redirected into the logs (`stderr_to_log`)."""

    def __init__(self):
        stream = sys.stderr
        super().__init__(stream.original if isinstance(stream, _LinesToLog) else stream)


class _LinesToLog(io.TextIOBase):
    """A stream whose lines are logged: what libraries print to standard error (MLflow's notices,
    a thread's traceback) comes out as log lines too, not as text among the JSON.

    Text after a carriage return overwrites the line, as on a terminal: a progress bar, which
    redraws its line that way, is logged once, as it was last drawn. A line longer than MAX_LINE
    is logged in pieces rather than held."""

    MAX_LINE = 64 * 1024

    def __init__(self, original, logger: logging.Logger):
        self.original, self._logger = original, logger
        # The start of the line being written, in pieces: appending to one string would copy it
        # on every write.
        self._pending: list[str] = []
        self._pending_size = 0
        self._after_return = False  # a "\r" came last: what follows overwrites, unless it is "\n"
        self._lock = threading.RLock()
        self._inside = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if getattr(self._inside, "yes", False):  # a handler's own error report: no loop
            return self.original.write(text)
        with self._lock:
            lines = self._lines(text)
        self._inside.yes = True
        try:
            for line in lines:
                if line.strip():
                    self._logger.warning("%s", line)
        finally:
            self._inside.yes = False
        return len(text)

    def _lines(self, text: str) -> list[str]:
        """The lines `text` ends, keeping the start of the next one."""
        lines = []
        for part in _LINE_ENDS.split(text):
            if part in ("\n", "\r\n"):
                lines.append(self._take_pending())
            elif part == "\r":
                self._after_return = True
            elif part:
                if self._after_return:
                    self._take_pending()
                self._pending.append(part)
                self._pending_size += len(part)
                if self._pending_size > self.MAX_LINE:
                    lines.append(self._take_pending())
        return lines

    def _take_pending(self) -> str:
        line = "".join(self._pending)
        self._pending, self._pending_size, self._after_return = [], 0, False
        return line

    def fileno(self) -> int:
        return self.original.fileno()

    def isatty(self) -> bool:
        return False


def stderr_to_log() -> None:
    """In a server process logging JSON: standard error's lines become log records ("stderr")."""
    if not isinstance(sys.stderr, _LinesToLog):
        sys.stderr = _LinesToLog(sys.stderr, logging.getLogger("stderr"))


def configure(config: dict) -> None:
    """LOGGING_CONFIG: `config`, and Python's warnings as log lines (Django 6 no longer routes them)."""
    logging.config.dictConfig(copy.deepcopy(config))
    logging.captureWarnings(True)


def logging_config(log_format: str, level: str, *, levels: dict[str, str] | None = None, gunicorn=False):
    """A `logging.config.dictConfig` dict: everything to one console handler (stderr) in
    `log_format`; `levels` for chatty libraries; with `gunicorn`, its error and access logs too."""
    loggers = {name: {"level": logger_level} for name, logger_level in (levels or {}).items()}
    if gunicorn:
        # No level for gunicorn.error: gunicorn's own --log-level sets it.
        loggers["gunicorn.error"] = {"handlers": ["console"], "propagate": False}
        loggers["gunicorn.access"] = {"handlers": ["console"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"json": {"()": JsonFormatter}, "text": {"()": TextFormatter}},
        "handlers": {"console": {"()": ConsoleHandler, "formatter": log_format, "filters": ["context"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": loggers,
    }
