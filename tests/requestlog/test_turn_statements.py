"""What logging a turn sends to the database: a turn that retrieved nothing is one INSERT, committed
on its own; one with documents writes them with the request, in one transaction."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviewapp.chains.base import ChainResult
from reviewapp.requestlog.models import Request, RetrievedDocument
from reviewapp.requestlog.services import log_turn

QUESTION = [{"role": "user", "content": "How do I rotate a token?"}]


def statements(app, user, result) -> tuple[Request, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        request = log_turn(
            app=app, user=user, source=Request.Source.REST_API, messages=QUESTION, result=result
        )
    return request, [q["sql"].split(" (", 1)[0].split(" VALUES", 1)[0] for q in queries.captured_queries]


@pytest.mark.django_db(transaction=True)
def test_a_turn_that_retrieved_nothing_is_one_insert_committed_on_its_own(app, querier):
    request, sent = statements(app, querier, ChainResult(response="Rotate it in Settings."))

    assert sent == ['INSERT INTO "requestlog_request"']
    assert not connection.in_atomic_block
    assert Request.objects.get(pk=request.pk).response == "Rotate it in Settings."


@pytest.mark.django_db(transaction=True)
def test_a_turn_with_documents_writes_them_with_the_request_in_one_transaction(app, querier):
    chunks = [{"position": 0, "doc_uri": "docs://a", "content": "A"}, {"position": 1, "doc_uri": "docs://b"}]

    request, sent = statements(app, querier, ChainResult(response="See the docs.", chunks=chunks))

    begin, request_insert, *written, commit = sent
    assert begin.startswith("BEGIN") and commit == "COMMIT"  # SQLite's BEGIN is BEGIN IMMEDIATE
    assert request_insert == 'INSERT INTO "requestlog_request"'
    assert written[0] == 'INSERT INTO "requestlog_retrieveddocument"'
    assert not any(s.startswith(("BEGIN", "COMMIT", "SAVEPOINT")) for s in written)  # the app's documents too
    assert sorted(RetrievedDocument.objects.filter(request=request).values_list("doc_uri", flat=True)) == [
        "docs://a",
        "docs://b",
    ]


def test_inside_a_callers_transaction_a_turn_keeps_a_savepoint_of_its_own(app, querier):
    # The test runs inside a transaction, as a caller's would: a refused row must not break it.
    request, sent = statements(app, querier, ChainResult(response="Rotate it in Settings."))

    assert [s.split(" ", 1)[0] for s in sent] == ["SAVEPOINT", "INSERT", "RELEASE"]
    assert Request.objects.filter(pk=request.pk).exists()
