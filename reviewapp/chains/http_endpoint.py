"""Chains behind an HTTP endpoint: an MLflow scoring server or an OpenAI-compatible server.

adapter_config: {"url": ..., "kind": "openai" | "mlflow", "model": ..., "secret_header": ...,
"secret_env": ...}. The secret itself is never stored: `secret_env` names the environment
variable that holds it, read at call time.
"""

import json
import os
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import requests
import urllib3

from .base import ChainError, ChainResult


class ChainTimeout(ChainError):
    """The chain did not answer within the app's timeout."""


OPENAI = "openai"
MLFLOW = "mlflow"

# One keep-alive session per thread: requests.Session is not documented as thread-safe.
_local = threading.local()


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def kind_for(config: dict) -> str:
    """The server kind named in the config, else guessed from the URL path."""
    kind = (config.get("kind") or "").strip().lower()
    if kind in (OPENAI, MLFLOW):
        return kind
    path = urlparse(config.get("url", "")).path.rstrip("/")
    return MLFLOW if path.endswith("/invocations") else OPENAI


def endpoint_url(config: dict) -> str:
    """The URL to POST to; a bare base URL gets the kind's usual path."""
    url = (config.get("url") or "").strip()
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ChainError(f"The app's endpoint URL {url!r} is not an http(s) URL")
    path = parsed.path.rstrip("/")
    kind = kind_for(config)
    if kind == MLFLOW and not path.endswith("/invocations"):
        return url.rstrip("/") + "/invocations"
    if kind == OPENAI and not path.endswith("/chat/completions"):
        suffix = "/chat/completions" if path.endswith("/v1") else "/v1/chat/completions"
        return url.rstrip("/") + suffix
    return url


def secret_headers(config: dict) -> dict:
    header = (config.get("secret_header") or "").strip()
    env_name = (config.get("secret_env") or "").strip()
    if not header or not env_name:
        return {}
    value = os.environ.get(env_name)
    if not value:
        raise ChainError(
            f"The app's endpoint needs the secret in environment variable {env_name}, which is not set"
        )
    # An API key alone in an Authorization header means a bearer token (OpenAI-style servers).
    if header.lower() == "authorization" and " " not in value.strip():
        value = f"Bearer {value.strip()}"
    return {header: value}


def response_text(payload) -> str:
    """The answer from what a chain returned: a string, or an OpenAI chat completion object."""
    if isinstance(payload, dict) and "predictions" in payload:
        payload = payload["predictions"]
    if isinstance(payload, list) and len(payload) == 1:
        payload = payload[0]
    if isinstance(payload, str):
        return payload
    if isinstance(payload, dict):
        choices = payload.get("choices")
        if isinstance(choices, list) and choices:
            first = choices[0] or {}
            message = first.get("message") or {}
            content = message.get("content") if isinstance(message, dict) else None
            if content is None:
                content = first.get("text")
            if isinstance(content, str):
                return content
        for key in ("content", "response", "output", "text"):
            if isinstance(payload.get(key), str):
                return payload[key]
    raise ChainError(
        "The chain's answer was neither a string nor a chat completion: "
        + json.dumps(payload, default=str)[:300]
    )


def usage_counts(usage) -> dict:
    """ChainResult token fields from an OpenAI `usage` object, where the server sent one."""
    if not isinstance(usage, dict):
        return {}
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens"))
    total = usage.get("total_tokens")
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    out = {"request_tokens": prompt, "response_tokens": completion, "total_tokens": total}
    return {k: int(v) for k, v in out.items() if isinstance(v, int | float)}


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict):
            body = body.get("message") or body.get("error") or body.get("detail") or body
        text = body if isinstance(body, str) else json.dumps(body)
    except ValueError:
        text = response.text
    return text.strip()[:500]


class HttpEndpointAdapter:
    """One chain behind `url`; streams tokens where the server streams (OpenAI SSE)."""

    def __init__(self, config: dict):
        self.config = config
        self.kind = kind_for(config)
        self.url = endpoint_url(config)

    def _payload(self, messages: list[dict], stream: bool) -> dict:
        if self.kind == MLFLOW:
            # The scoring server's unified LLM input: a chat-messages pyfunc gets {"messages": [...]}.
            return {"messages": messages}
        payload = {"model": self.config.get("model") or "default", "messages": messages}
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        return payload

    def _post(self, messages: list[dict], *, timeout: float, stream: bool) -> requests.Response:
        headers = {"Content-Type": "application/json", **secret_headers(self.config)}
        if stream:
            headers["Accept"] = "text/event-stream"
        try:
            response = _session().post(
                self.url,
                data=json.dumps(self._payload(messages, stream)),
                headers=headers,
                timeout=timeout,
                stream=stream,
            )
        except requests.Timeout:
            raise ChainTimeout(f"The chain did not answer within {timeout:g} s") from None
        except requests.ConnectionError as exc:
            raise ChainError(f"Could not reach the chain at {self.url}: {_reason(exc)}") from None
        if response.status_code >= 400:
            detail = _error_text(response)
            response.close()
            raise ChainError(f"The chain answered HTTP {response.status_code}: {detail}")
        return response

    def invoke(self, messages: list[dict], *, timeout: float) -> ChainResult:
        started = time.monotonic()
        response = self._post(messages, timeout=timeout, stream=False)
        try:
            payload = response.json()
        except ValueError:
            raise ChainError(f"The chain's answer was not JSON: {response.text[:300]}") from None
        except requests.Timeout:
            raise ChainTimeout(f"The chain did not answer within {timeout:g} s") from None
        usage = payload.get("usage") if isinstance(payload, dict) else None
        return ChainResult(
            response=response_text(payload),
            latency_ms=round((time.monotonic() - started) * 1000),
            **usage_counts(usage),
        )

    def stream(self, messages: list[dict], *, timeout: float) -> Iterator[str | ChainResult]:
        if self.kind != OPENAI:
            # The MLflow scoring server does not stream: the whole answer comes at once.
            result = self.invoke(messages, timeout=timeout)
            yield result.response
            yield result
            return
        started = time.monotonic()
        deadline = started + timeout
        response = self._post(messages, timeout=timeout, stream=True)
        if "text/event-stream" not in response.headers.get("Content-Type", ""):
            # The server chose not to stream; take its whole answer.
            payload = response.json()
            text = response_text(payload)
            yield text
            yield ChainResult(
                response=text,
                latency_ms=round((time.monotonic() - started) * 1000),
                **usage_counts(payload.get("usage") if isinstance(payload, dict) else None),
            )
            return
        parts: list[str] = []
        usage = None
        try:
            for event in _sse_events(response):
                if time.monotonic() > deadline:
                    raise ChainTimeout(f"The chain did not finish answering within {timeout:g} s")
                if event == "[DONE]":
                    break
                try:
                    chunk = json.loads(event)
                except ValueError:
                    raise ChainError(
                        f"The chain streamed something that is not JSON: {event[:200]}"
                    ) from None
                if isinstance(chunk, dict) and chunk.get("error"):
                    raise ChainError(f"The chain failed while answering: {chunk['error']}")
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        parts.append(delta)
                        yield delta
        except (requests.Timeout, urllib3.exceptions.ReadTimeoutError, TimeoutError):
            raise ChainTimeout(f"The chain did not finish answering within {timeout:g} s") from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise ChainError(f"The chain's stream broke off: {_reason(exc)}") from None
        finally:
            response.close()
        yield ChainResult(
            response="".join(parts),
            latency_ms=round((time.monotonic() - started) * 1000),
            **usage_counts(usage),
        )


def _lines(response: requests.Response) -> Iterator[str]:
    """The body's lines as they arrive (iter_lines would wait to fill its buffer first)."""
    pending = b""
    while True:
        block = response.raw.read1(65536)
        if not block:
            break
        pending += block
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.rstrip(b"\r").decode("utf-8")
    if pending:
        yield pending.rstrip(b"\r").decode("utf-8")


def _sse_events(response: requests.Response) -> Iterator[str]:
    """The `data:` payloads of a server-sent event stream, one per event."""
    data: list[str] = []
    for line in _lines(response):
        if line == "":
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    if data:
        yield "\n".join(data)


def _reason(exc: Exception) -> str:
    # requests nests the socket error several levels deep; its last line is the readable part.
    text = str(exc)
    return text.rsplit(": ", 1)[-1].rstrip(")'\"") if text else type(exc).__name__
