"""The documents each request retrieved (RetrievedDocument): one row per distinct doc_uri, written
with the request by the chat and API turns, by imports, and for the log kept before (requestlog 0004)."""

import datetime as dt
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from reviewapp.chains.base import ChainResult
from reviewapp.requestlog.models import DOC_URI_CHARS, RetrievedDocument
from reviewapp.requestlog.services import log_turn, run_import, start_jsonl_import
from tests import factories
from tests.migrating import back_at
from tests.requestlog.helpers import jsonl, row, trace_dict

LONG = "docs://long/" + "x" * 1500
# Differs from LONG only past the first DOC_URI_CHARS characters: the same document once cut.
LONG_TOO = LONG[:DOC_URI_CHARS] + "y" * 100
T0 = dt.datetime(2026, 4, 2, 8, 30, tzinfo=dt.UTC)


def documents(request) -> list[str]:
    return sorted(RetrievedDocument.objects.filter(request_id=request.pk).values_list("doc_uri", flat=True))


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

    assert documents(request) == sorted(["docs://a", "docs://b", LONG[:DOC_URI_CHARS]])
    rows = RetrievedDocument.objects.filter(request_id=request.pk)
    assert {(r.app_id, r.app_version, r.created_at) for r in rows} == {(app.pk, "4", T0)}


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
        first: [("docs://a", "2"), ("docs://b", "2"), (LONG[:DOC_URI_CHARS], "2")],
        second: [("docs://c", "")],
        third: [],
    }

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
            (ids[0], app, chunks("docs://a", "docs://b", "docs://a", LONG, LONG_TOO)),
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
            (ids[0], app.pk, LONG[:DOC_URI_CHARS], T0),
            (ids[2], other.pk, "docs://a", T0),
        ]
    )
