"""The documents each request retrieved (RetrievedDocument): one row per distinct doc_uri, written
with the request by the chat and API turns, by imports, and for the log kept before (requestlog 0004),
and their number on the request (Request.documents, requestlog 0006)."""

import datetime as dt
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from reviewapp.chains.base import ChainResult
from reviewapp.requestlog.models import DOC_URI_BYTES, Request, RetrievedDocument, cut_doc_uri
from reviewapp.requestlog.services import log_turn, run_import, start_jsonl_import
from tests import factories
from tests.migrating import back_at
from tests.requestlog.helpers import jsonl, row, trace_dict

LONG = "docs://long/" + "x" * 1500
# Differs from LONG only past the first DOC_URI_BYTES bytes: the same document once cut.
LONG_TOO = LONG[:DOC_URI_BYTES] + "y" * 100
# 1,000 characters, but three (CJK) and four (emoji) times as many bytes: more than a PostgreSQL
# btree entry takes (2,704 bytes) unless cut by bytes.
CJK = "docs://" + "".join(chr(0x4E00 + (i * 7919) % 0x5000) for i in range(993))
EMOJI = "docs://" + "".join(chr(0x1F600 + i % 80) for i in range(993))
LOG_API = "/api/v1/apps/support-bot/request-logs"
T0 = dt.datetime(2026, 4, 2, 8, 30, tzinfo=dt.UTC)


def documents(request) -> list[str]:
    request_id = getattr(request, "pk", request)
    return sorted(RetrievedDocument.objects.filter(request_id=request_id).values_list("doc_uri", flat=True))


def chunks(*uris) -> list[dict]:
    return [{"position": p, "doc_uri": uri, "content": f"Passage {p}"} for p, uri in enumerate(uris)]


def test_a_turn_lists_each_document_it_retrieved_once(app, querier):
    result = ChainResult(
        response="Rotate it in Settings.",
        chunks=chunks("docs://a", "docs://b", "docs://a", "", None, LONG, LONG_TOO),
        app_version="4",
    )

    request = log_turn(
        app=app,
        user=querier,
        source="review_app",
        messages=[{"role": "user", "content": "How do I rotate a token?"}],
        result=result,
        created_at=T0,
    )

    assert documents(request) == sorted(["docs://a", "docs://b", LONG[:DOC_URI_BYTES]])
    rows = RetrievedDocument.objects.filter(request_id=request.pk)
    assert {(r.app_id, r.app_version, r.created_at) for r in rows} == {(app.pk, "4", T0)}
    # Counted on the row too, for the figures that only need to know a request retrieved something.
    assert Request.objects.get(pk=request.pk).documents == 3


def test_a_failed_turn_retrieved_nothing(app, querier):
    request = log_turn(
        app=app,
        user=querier,
        source="rest_api",
        messages=[{"role": "user", "content": "Hello?"}],
        error="The chain failed",
    )

    assert documents(request) == []


def test_an_import_lists_the_documents_of_each_trace_and_a_second_import_adds_nothing(app, manager):
    docs = (("docs://a", "Alpha"), ("docs://b", "Beta"), ("docs://a", "Alpha again"), (LONG, "Long"))
    rows = [
        row(0, trace=trace_dict("First?", "Answer", docs=docs), app_version="2"),
        row(1, trace=trace_dict("Second?", "Answer", docs=(("docs://c", "Gamma"),))),
        row(2),  # no trace: no documents
    ]

    def upload():
        job = start_jsonl_import(app=app, user=manager, upload=SimpleUploadedFile("t.jsonl", jsonl(rows)))
        return run_import(job)

    assert upload()["imported"] == 3
    first, second, third = (uuid.UUID(r["request_id"]) for r in rows)
    by_request = {
        request_id: sorted(
            RetrievedDocument.objects.filter(request_id=request_id).values_list("doc_uri", "app_version")
        )
        for request_id in (first, second, third)
    }
    assert by_request == {
        first: [("docs://a", "2"), ("docs://b", "2"), (LONG[:DOC_URI_BYTES], "2")],
        second: [("docs://c", "")],
        third: [],
    }
    counted = dict(Request.objects.filter(pk__in=[first, second, third]).values_list("pk", "documents"))
    assert counted == {first: 3, second: 1, third: 0}

    assert upload()["already_present"] == 3
    assert RetrievedDocument.objects.filter(app=app).count() == 4


@pytest.mark.django_db(transaction=True)
def test_the_migration_lists_the_documents_of_the_log_kept_before_it():
    app = factories.make_app("support-bot")
    other = factories.make_app("other-bot")
    ids = [uuid.uuid4() for _ in range(4)]

    with back_at(("requestlog", "0003_request_text_altered_load_ms_incomplete")) as (old, migrate_forward):
        OldRequest = old.get_model("requestlog", "Request")
        for request_id, on, found in [
            (ids[0], app, chunks("docs://a", "docs://b", "docs://a", LONG, LONG_TOO, CJK, EMOJI)),
            (ids[1], app, []),
            (ids[2], other, chunks("docs://a", "")),
            (ids[3], app, [{"position": 0, "content": "no uri"}, "not a chunk"]),
        ]:
            OldRequest.objects.create(
                request_id=request_id,
                app_id=on.pk,
                app_version="1",
                conversation_id="c",
                source="import",
                messages=[{"role": "user", "content": "Q?"}],
                chunks=found,
                created_at=T0,
            )

        migrate_forward()

    listed = sorted(RetrievedDocument.objects.values_list("request_id", "app_id", "doc_uri", "created_at"))
    assert listed == sorted(
        [
            (ids[0], app.pk, "docs://a", T0),
            (ids[0], app.pk, "docs://b", T0),
            (ids[0], app.pk, LONG[:DOC_URI_BYTES], T0),
            (ids[0], app.pk, cut_doc_uri(CJK), T0),
            (ids[0], app.pk, cut_doc_uri(EMOJI), T0),
            (ids[2], other.pk, "docs://a", T0),
        ]
    )
    # And each request counts its own (requestlog 0006).
    assert dict(Request.objects.values_list("pk", "documents")) == {
        ids[0]: 5,
        ids[1]: 0,
        ids[2]: 1,
        ids[3]: 0,
    }


@pytest.mark.parametrize("text", [CJK, EMOJI, LONG, "docs://short", "é" * 600])
def test_a_doc_uri_is_cut_to_its_first_1000_bytes_on_a_character_boundary(text):
    cut = cut_doc_uri(text)

    assert text.startswith(cut)
    assert len(cut.encode()) <= DOC_URI_BYTES
    # Nothing more fits: the next character would pass the limit.
    assert cut == text or len(text[: len(cut) + 1].encode()) > DOC_URI_BYTES


def test_a_turn_that_retrieved_long_multibyte_doc_uris_is_logged_and_found_by_them(
    app, querier, manager, as_user
):
    result = ChainResult(response="Found it.", chunks=chunks(CJK, EMOJI, "docs://a"), app_version="4")

    request = log_turn(
        app=app,
        user=querier,
        source="review_app",
        messages=[{"role": "user", "content": "Where?"}],
        result=result,
        created_at=T0,
    )

    assert documents(request) == sorted([cut_doc_uri(CJK), cut_doc_uri(EMOJI), "docs://a"])
    client = as_user(manager)
    for uri in (CJK, EMOJI, cut_doc_uri(CJK), cut_doc_uri(EMOJI)):
        # The URI as the chain gave it and as stored (the dashboard's links) find the same row.
        found = client.get(LOG_API, {"doc_uri": uri})
        assert found.status_code == 200, found.content
        assert [row["request_id"] for row in found.json()["results"]] == [str(request.pk)]
        page = client.get("/apps/support-bot/requests/", {"doc_uri": uri})
        assert page.status_code == 200 and str(request.pk) in page.content.decode()
    # Another document (one character apart within what is kept) finds nothing.
    assert client.get(LOG_API, {"doc_uri": CJK[:10] + "x" + CJK[11:]}).json()["results"] == []


def test_an_import_of_a_trace_with_long_multibyte_doc_uris_lists_them(app, manager):
    docs = ((CJK, "Chinese"), (EMOJI, "Emoji"))
    rows = [row(0, trace=trace_dict("First?", "Answer", docs=docs))]

    job = start_jsonl_import(app=app, user=manager, upload=SimpleUploadedFile("t.jsonl", jsonl(rows)))
    report = run_import(job)

    assert report["imported"] == 1, report
    assert documents(uuid.UUID(rows[0]["request_id"])) == sorted([cut_doc_uri(CJK), cut_doc_uri(EMOJI)])
