"""Saying what a chain sent without repeating it: errors are shown to users and kept in the
request log, and the chain may be someone else's service (its shape and size, and a short clean
message at most)."""

import re

# Control and bidirectional-formatting characters: a message must not rewrite the line it is shown in.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]+")
MAX_MESSAGE_CHARS = 200


def clean_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_body(data: bytes, content_type: str = "", *, cut: bool = False) -> str:
    """What a body is, never what it says: "an HTML page of 12,345 bytes" ("of at least" when `cut`)."""
    if not data:
        return "an empty body"
    size = f"{len(data):,} byte{'' if len(data) == 1 else 's'}"
    if cut:
        size = f"at least {size}"
    head = data[:256].lstrip().lower()
    if "html" in content_type or head.startswith((b"<!doctype html", b"<html")):
        return f"an HTML page of {size}"
    if "json" in content_type:
        return f"JSON of {size}"
    return f"a {content_type} body of {size}" if content_type else f"a body of {size}"


def not_utf8(error: UnicodeDecodeError) -> str:
    """Where text stopped being UTF-8, by the byte's value and offset: "byte 0xff at position 12"."""
    return f"byte 0x{error.object[error.start]:02x} at position {error.start:,}"


def json_shape(value) -> str:
    """The shape of a JSON value without its content: keys of an object, the length of a list."""
    if isinstance(value, dict):
        keys = [clean_text(str(key), 40) for key in list(value)[:5]]
        more = ", …" if len(value) > 5 else ""
        return f"a JSON object with keys {', '.join(keys)}{more}" if keys else "an empty JSON object"
    if isinstance(value, list):
        return f"a JSON list of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, str):
        return f"a string of {len(value):,} characters"
    return {bool: "a boolean", int: "a number", float: "a number"}.get(type(value), "null")


def error_message(body) -> str:
    """The short message a JSON error carries (OpenAI {"error": {"message"}}, MLflow, FastAPI), or ""."""
    if not isinstance(body, dict):
        return ""
    for holder in (body.get("error"), body):
        if isinstance(holder, str):
            return clean_text(holder)
        if isinstance(holder, dict):
            for key in ("message", "detail", "error_description"):
                if isinstance(holder.get(key), str):
                    return clean_text(holder[key])
    return ""


def byte_size(n: int) -> str:
    """A limit as people write it: "10 MiB", "4 KiB", else "5,000 bytes"."""
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n:,} bytes"
