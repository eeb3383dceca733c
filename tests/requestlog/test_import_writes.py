"""How an import writes its rows: by COPY on PostgreSQL (plain inserts on SQLite), the same rows and
documents either way; an id another import stored meanwhile is skipped, not a failed batch; and the
quick read of JSONL lines gives the same rows and the same errors as the full check."""

import json
import math

import pytest

from reviewapp.requestlog.jsonl_import import loads_line
from reviewapp.requestlog.models import Request, RetrievedDocument
from reviewapp.requestlog.rows import build_row, loads_storable
from reviewapp.requestlog.storage import ImportReport, _write, import_rows
from tests import factories
from tests.requestlog.helpers import row, trace_dict

DOCS = [("docs://a", "Alpha text"), ("docs://b", "Beta text"), ("docs://a", "Alpha again"), ("", "no uri")]


def varied_rows() -> list[dict]:
    """Rows with text ids (each app maps them to its own UUIDs), traces, odd text and empty fields."""
    return [
        row(0, request_id="t-0"),
        row(
            1,
            request_id="t-1",
            trace=trace_dict("Where?", "There [1].", trace_id=f"tr-{'1' * 32}", docs=DOCS),
        ),
        row(2, request_id="t-2", response="tab\there, a new\nline, a back\\slash and ü", app_version="v2"),
        row(3, request_id="t-3", response="", status="error", error="The model did not answer"),
        row(4, request_id="t-4", latency_ms=12, total_tokens=40, app_version=None),
        row(5, request_id="t-5", response="nul\x00 and a lone \ud800 surrogate", request="plain question"),
        row(6, request_id="t-6", trace=json.dumps(trace_dict("Q", "A", trace_id=f"tr-{'6' * 32}"))),
    ]


def stored(app) -> dict[str, tuple]:
    """Each of the app's rows by its text id: every field but the ids, and its documents."""
    fields = [f.attname for f in Request._meta.concrete_fields if f.attname not in ("request_id", "app_id")]
    by_uuid = {}
    for request in Request.objects.filter(app=app):
        documents = sorted(
            RetrievedDocument.objects.filter(request=request).values_list(
                "doc_uri", "app_version", "created_at"
            )
        )
        by_uuid[request.pk] = (tuple(getattr(request, name) for name in fields), documents)
    ids = {build_row(app, r).request_id: r["request_id"] for r in varied_rows()}
    return {ids[pk]: value for pk, value in by_uuid.items()}


def test_imported_rows_are_the_rows_plain_inserts_store(app):
    other = factories.make_app("other-bot", name="Other bot")
    report = import_rows(app=app, rows=list(enumerate(varied_rows(), start=1)), report=ImportReport("t"))
    assert (report.imported, report.bad_rows) == (7, 0), report.errors
    # The same rows through the ORM's INSERT (what SQLite always uses), under another app.
    _write([build_row(other, r) for r in varied_rows()], by_copy=False)

    copied, inserted = stored(app), stored(other)
    assert copied == inserted
    with_trace = Request.objects.get(app=app, mlflow_trace_id=f"tr-{'1' * 32}")
    assert with_trace.documents == 2
    assert [d for d, _, _ in copied["t-1"][1]] == ["docs://a", "docs://b"]
    assert Request.objects.get(app=app, response__startswith="tab").response == (
        "tab\there, a new\nline, a back\\slash and ü"
    )
    assert Request.objects.get(app=app, response__startswith="nul").text_altered


def test_an_id_another_import_stored_meanwhile_is_skipped_and_the_rest_stored(app):
    other = factories.make_app("other-bot", name="Other bot")
    traced = row(1, trace=trace_dict("Q", "A", trace_id=f"tr-{'a' * 32}", docs=DOCS))
    # Stored after this import looked the ids up: by another import of this app, and of another app.
    ours_first = build_row(app, {**traced, "response": "stored first"}).request()
    ours_first.save()
    theirs = build_row(other, row(2)).request()
    theirs.save()

    batch = [build_row(app, r) for r in (traced, row(2), row(3, trace=trace_dict("Q3", "A3", docs=DOCS)))]
    _write(batch)

    assert Request.objects.get(pk=ours_first.pk).response == "stored first"
    assert Request.objects.get(pk=theirs.pk).app == other
    assert not RetrievedDocument.objects.filter(request_id=theirs.pk).exists()
    assert Request.objects.get(pk=batch[2].request_id).app == app
    assert sorted(
        RetrievedDocument.objects.filter(request_id=batch[2].request_id).values_list("doc_uri", flat=True)
    ) == [
        "docs://a",
        "docs://b",
    ]


LINES = [
    '{"request_id": "1", "request": "q", "response": "a"}',
    '{"a": "NUL \\u0000 here"}',
    '{"a": "lone \\ud800 and \\uDFFF"}',
    '{"a": "a pair \\ud83d\\ude00"}',
    '{"a": "not an escape: \\\\u0000 nor \\\\ud800"}',
    '{"k\\u0000ey": 1}',
    '"\\u0000"',
    '{"a": NaN}',
    '{"a": -Infinity}',
    '{"a": 1e999}',
    '{"a": ' + "[" * 63 + "]" * 63 + "}",
    '{"a": ' + "[" * 64 + "]" * 64 + "}",
    '{"a": {"b": ' + "[" * 70 + "]" * 70 + "}}",
    '{"a": "' + "[" * 100 + '"}',
    '{"a": [' + ",".join(["[[1]]"] * 40) + "]}",
    "[" * 100_000 + "]" * 100_000,
    '{"a": "\\u0000", "b": ' + "[" * 70 + "]" * 70 + "}",
    '{"a": ',
    "[1, 2]",
]


def outcome(loads, text):
    try:
        value = loads(text)
    except ValueError as exc:
        return type(exc).__name__, str(exc)
    return "row", json.dumps(value, sort_keys=True, allow_nan=True, ensure_ascii=True)


@pytest.mark.parametrize("text", LINES, ids=range(len(LINES)))
def test_a_jsonl_line_reads_as_the_full_check_reads_it(text):
    assert outcome(loads_line, text) == outcome(loads_storable, text)


def test_the_quick_read_still_refuses_what_it_must():
    assert outcome(loads_line, LINES[11]) == ("ValueError", "a is nested deeper than 64 levels")
    assert outcome(loads_line, LINES[12]) == ("ValueError", "a is nested deeper than 64 levels")
    assert outcome(loads_line, LINES[7]) == ("ValueError", "NaN is not valid JSON")
    assert math.isinf(loads_line(LINES[9])["a"])
    assert loads_line(LINES[13]) == {"a": "[" * 100}
    assert loads_line(LINES[1]) == {"a": "NUL \x00 here"}  # made storable when the row is built
    assert loads_line(LINES[4]) == {"a": "not an escape: \\u0000 nor \\ud800"}
