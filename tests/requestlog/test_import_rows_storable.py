"""A built row's text is made storable as the full walk over every string makes it, though a row
whose JSON text shows nothing to change skips that walk; its documents are counted as
models.retrieved_documents makes them; and COPY writes the JSON text the row was checked by only
while the field still holds that value."""

import json
import math

import pytest

from reviewapp.lib.text import storable_json
from reviewapp.requestlog.models import DOC_URI_BYTES, Request, RetrievedDocument, retrieved_documents
from reviewapp.requestlog.rows import COLUMNS, _storable_value, build_row, document_uris
from reviewapp.requestlog.storage import ImportReport, _write, import_rows
from tests import factories
from tests.requestlog.helpers import row, trace_dict

# Values as json.loads gives them from a line, and as a trace's attributes spell them again.
VALUES = [
    None,
    [],
    {"plain": ["text", 1, 2.5, True, None]},
    {"emoji": "😀 and ü", "tab": "a\tb\nc"},
    {"nul": "a\x00b"},
    {"lone": "\ud800"},
    {"key \x00": 1},
    {"pair": "\ud83d\ude00"},
    {"inf": math.inf},
    {"nan": [math.nan]},
    {"spelled NUL": '"a \\u0000 b"'},
    {"spelled surrogate": '"\\udc00"'},
    {"spelled ascii": '"\\u0041 \\u00fc"'},
    {"spelled pair": '"\\ud83d\\ude00"'},
    {"a word": "NaN is not a number, Infinity is far"},
    {"control": "bell \x07"},
    ("a", "tuple \x00"),
    {1: "an int key"},
    {"nested": [[[{"deep": "\ud800"}]]]},
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_a_json_value_is_made_storable_as_the_walk_makes_it(value):
    cleaned, changed, text = _storable_value(value)
    expected, expected_changed = storable_json(value)
    assert changed == expected_changed
    assert json.dumps(cleaned) == json.dumps(expected)
    if text is not None:  # kept only for a value left as it was, and it encodes that value
        assert cleaned is value and not changed
        assert json.loads(text) == json.loads(json.dumps(value))


def copied(built) -> dict:
    return dict(zip(COLUMNS, built.copied(), strict=True))


def test_a_plain_trace_keeps_its_json_text(app):
    built = build_row(
        app, row(1, request="Qü 😀", trace=trace_dict("Qü", "A", docs=[("docs://a", "Alpha ü")]))
    )
    assert not built.text_altered
    for name in ("messages", "trace", "chunks"):
        assert copied(built)[name] == built.texts[name]
        assert json.loads(built.texts[name]) == getattr(built, name)


def test_a_nul_spelled_in_a_trace_attribute_is_removed_from_the_chunks(app):
    trace = trace_dict("Q", "A", docs=[("docs://a", "before \x00 after \ud800")])
    built = build_row(app, row(1, trace=trace))
    # The trace holds the documents as JSON text (escapes, nothing to change); its chunks decode them.
    assert built.trace == trace
    assert built.chunks[0]["content"] == "before  after \ufffd"
    assert built.text_altered
    # Changed: written as the JSON of the changed value, not the text it was checked by.
    assert "chunks" not in built.texts
    assert json.loads(copied(built)["chunks"]) == built.chunks


def test_an_overflowing_number_in_a_trace_becomes_null(app):
    trace = trace_dict("Q", "A")
    line = json.dumps(row(1, trace=trace)).replace(
        '"execution_duration_ms": 120', '"execution_duration_ms": 1e400'
    )
    built = build_row(app, json.loads(line))
    assert built.trace["info"]["execution_duration_ms"] is None
    assert built.text_altered


CHUNKS = [
    {"doc_uri": "docs://a"},
    {"doc_uri": "docs://b"},
    {"doc_uri": "docs://a"},
    {"doc_uri": ""},
    {"content": "no uri"},
    "not a chunk",
    {"doc_uri": 42},
    {"doc_uri": "docs://" + "é" * DOC_URI_BYTES},
    {"doc_uri": "docs://" + "é" * DOC_URI_BYTES + "x"},
]


def test_documents_are_counted_as_retrieved_documents_makes_them(app):
    request = build_row(app, row(1)).request()
    request.chunks = CHUNKS
    expected = [d.doc_uri for d in retrieved_documents(request)]
    assert len(expected) == request.documents == 4
    assert list(document_uris(CHUNKS)) == expected
    docs = [("docs://a", "Alpha"), ("docs://b", "Beta"), ("docs://a", "again"), ("", "none")]
    assert build_row(app, row(2, trace=trace_dict("Q", "A", docs=docs))).documents == 2


def test_rows_with_traces_store_the_same_documents_and_json_by_copy_as_by_insert(app):
    other = factories.make_app("other-bot", name="Other bot")
    docs = [("docs://a", "Alpha ü"), ("docs://b", "Beta 😀"), ("docs://a", "again"), ("", "none")]
    rows = [
        row(1, request_id="r-1", trace=trace_dict("Q 😀", "A", trace_id=f"tr-{'1' * 32}", docs=docs)),
        row(
            2,
            request_id="r-2",
            trace=trace_dict("Q", "A", trace_id=f"tr-{'2' * 32}", docs=[("docs://n", "\x00")]),
        ),
        row(3, request_id="r-3", request="text with NaN in it"),
    ]
    report = import_rows(app=app, rows=list(enumerate(rows, start=1)), report=ImportReport("t"))
    assert (report.imported, report.bad_rows) == (3, 0), report.errors
    _write([build_row(other, r) for r in rows], by_copy=False)

    def stored(owner):
        fields = ["messages", "response", "trace", "chunks", "documents", "text_altered", "mlflow_trace_id"]
        return [
            (
                tuple(getattr(r, name) for name in fields),
                sorted(RetrievedDocument.objects.filter(request=r).values_list("doc_uri", flat=True)),
            )
            for r in Request.objects.filter(app=owner).order_by("response")
        ]

    ours = stored(app)
    assert ours == stored(other)
    assert [(values[4], values[5], docs) for values, docs in ours] == [
        (2, False, ["docs://a", "docs://b"]),
        (1, True, ["docs://n"]),
        (0, False, []),
    ]
