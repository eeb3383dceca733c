"""The API's JSON in and out: the size, the nesting and the text of a body are checked before any view
sees it, and every answer is JSON whatever the Accept header says.

Text that a database cannot store (NUL on PostgreSQL) or that cannot be encoded at all (an unpaired
surrogate such as "\\ud800") is refused for the whole API in one place, with the JSON path at fault.
"""

import json
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import parsers
from rest_framework.exceptions import NotAcceptable, ParseError
from rest_framework.negotiation import DefaultContentNegotiation

MAX_DEPTH = 64
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")


def problem_in(value, max_depth: int = MAX_DEPTH) -> str | None:
    """What makes a parsed JSON value unfit to store, naming its path; None when it is fit.

    Too deep a nesting, or a string (key or value) holding a NUL (PostgreSQL cannot store it) or an
    unpaired surrogate (no encoding can write it). Iterative, so it never recurses itself.
    """
    stack = [("", value, 0, "")]
    while stack:
        where, item, depth, top = stack.pop()
        if isinstance(item, str):
            found = _BAD_CHAR.search(item)
            if found:
                return f"{where or 'the body'} contains {_describe(found.group())}"
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                # Named by its top-level field: the full path would be max_depth segments long.
                return f"{top or 'the body'} is nested deeper than {max_depth} levels"
            if isinstance(item, dict):
                for key in item:
                    found = _BAD_CHAR.search(key)
                    if found:
                        return f"a key of {where or 'the body'} contains {_describe(found.group())}"
                children = [(f"{where}.{key}" if where else key, child) for key, child in item.items()]
            else:
                children = [(f"{where}[{n}]", child) for n, child in enumerate(item)]
            stack.extend((path, child, depth + 1, top or path) for path, child in reversed(children))
    return None


def _describe(char: str) -> str:
    if char == "\x00":
        return "a NUL character (U+0000)"
    return f"an unpaired surrogate (U+{ord(char):04X})"


def loads_checked(text: str | bytes):
    """json.loads, then the checks of `problem_in`; ValueError names what is wrong."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    problem = problem_in(data)
    if problem:
        raise ValueError(problem)
    return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        # DRF reads the stream itself, past Django's own size check on request.body.
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestDataTooBig(f"The request body is over {limit} bytes.")
        encoding = parsers.get_encoding(parser_context or {})
        try:
            return loads_checked(raw.decode(encoding))
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - the body is not valid {encoding}: {exc.reason}") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


class JSONNegotiation(DefaultContentNegotiation):
    """An Accept header the API cannot meet gets JSON anyway (RFC 9110 lets a server ignore it), not a 406.

    The invocation stream is chosen by the body (`stream`), so `Accept: text/event-stream` must not
    refuse it; a client that accepts only HTML still gets an answer it can read as the schema says.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type
