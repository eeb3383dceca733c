"""The request log keeps only indexes some query reads: the lookups by conversation, by MLflow trace
id and by request, all within one app, are each read from an index at a few thousand rows."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviewapp.chat.services import conversation_taken, conversation_turns
from reviewapp.requestlog.models import Request, RetrievedDocument, retrieved_documents
from reviewapp.requestlog.storage import _known_traces
from tests.factories import make_app, make_user

ROWS = 3000
UNIQUE_ON_SQLITE = {"retrieved_doc_once": "sqlite_autoindex_requestlog_retrieveddocument_1"}


def _log(apps, user):
    """ROWS requests over `apps`: conversations of three turns, every other one traced, each
    retrieving two documents."""
    requests = [
        Request(
            app=apps[i % len(apps)],
            user=user,
            source=Request.Source.IMPORT,
            conversation_id=f"conversation-{i // 3}",
            mlflow_trace_id=f"tr-{i}" if i % 2 else "",
            messages=[{"role": "user", "content": f"question {i}"}],
            response=f"answer {i}",
            chunks=[
                {"position": p, "doc_uri": f"docs://{(i + p) % 50}", "content": "text"} for p in range(2)
            ],
        )
        for i in range(ROWS)
    ]
    documents = [document for request in requests for document in retrieved_documents(request)]
    Request.objects.bulk_create(requests, batch_size=500)
    RetrievedDocument.objects.bulk_create(documents, batch_size=500)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return requests


def _plan(run) -> str:
    """The plan of the last statement `run` sends, as the database would run it."""
    with CaptureQueriesContext(connection) as captured:
        run()
    sql = captured.captured_queries[-1]["sql"]
    explain = "EXPLAIN" if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN"
    with connection.cursor() as cursor:
        cursor.execute(f"{explain} {sql}")
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def _reads_index(plan: str, name: str) -> None:
    if connection.vendor == "postgresql":
        assert "Seq Scan" not in plan and name in plan, plan
    else:
        # SQLite names a unique constraint's index itself.
        name = UNIQUE_ON_SQLITE.get(name, name)
        assert "SCAN requestlog_" not in plan and name in plan, plan


@pytest.fixture
def log(db):
    user = make_user()
    apps = [make_app() for _ in range(3)]
    return apps, user, _log(apps, user)


def test_a_conversations_turns_are_found_by_the_apps_conversation_index(log):
    apps, user, requests = log
    turn = requests[301]
    app = apps[301 % 3]

    _reads_index(_plan(lambda: conversation_turns(app, user, turn.conversation_id)), "req_app_conversation")
    _reads_index(_plan(lambda: conversation_taken(app, user, turn.conversation_id)), "req_app_conversation")
    assert [t.request_id for t in conversation_turns(app, user, turn.conversation_id)] == [turn.request_id]


def test_an_imports_known_traces_are_found_by_the_apps_traced_rows_index(log):
    apps, _, requests = log
    traced = [r.mlflow_trace_id for r in requests[:200] if r.mlflow_trace_id and r.app == apps[0]]
    asked = [*traced, "tr-not-logged", *(f"tr-{uuid.uuid4()}" for _ in range(150))]

    _reads_index(_plan(lambda: _known_traces(apps[0], asked)), "req_app_trace")
    # Another app's trace ids, and the untraced rows' empty id, are not this app's traces.
    assert _known_traces(apps[0], asked) == set(traced)
    assert _known_traces(apps[1], traced) == set()
    assert _known_traces(apps[0], [""]) == set()


def test_a_requests_documents_are_found_by_their_unique_index(log):
    apps, _, requests = log
    turn = requests[1000]
    found = Request.objects.for_app(apps[1000 % 3]).retrieved(turn.chunks[0]["doc_uri"])

    _reads_index(_plan(lambda: list(found.filter(pk=turn.pk))), "retrieved_doc_once")
    assert list(found.filter(pk=turn.pk)) == [turn]


def test_each_index_of_the_log_tables_is_one_some_query_reads(db):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tablename, indexname FROM pg_indexes WHERE tablename IN "
                "('requestlog_request', 'requestlog_retrieveddocument') ORDER BY 1, 2"
            )
        else:
            cursor.execute(
                "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' AND tbl_name IN "
                "('requestlog_request', 'requestlog_retrieveddocument') ORDER BY 1, 2"
            )
        indexes = cursor.fetchall()

    common = {
        "requestlog_request": [
            "req_app_conversation",
            "req_app_source_time",
            "req_app_time",
            "req_app_time_not_ok",
            "req_app_trace",
            "req_app_version_time",
            "requestlog_request_user_id_5eef2bd5",
        ],
        "requestlog_retrieveddocument": ["retrieved_doc_app_time"],
    }
    if connection.vendor == "postgresql":
        own = {
            "requestlog_request": [
                "req_app_time_cover",
                "req_messages_trgm",
                "req_response_trgm",
                "requestlog_request_pkey",
            ],
            "requestlog_retrieveddocument": [
                "requestlog_retrieveddocument_pkey",
                "retrieved_doc_app_uri_cover",
                "retrieved_doc_once",
            ],
        }
    else:
        own = {
            "requestlog_request": ["sqlite_autoindex_requestlog_request_1"],
            "requestlog_retrieveddocument": [
                "retrieved_doc_app_uri_time",
                "sqlite_autoindex_requestlog_retrieveddocument_1",
            ],
        }
    assert indexes == [
        (table, name) for table in sorted(common) for name in sorted(common[table] + own[table])
    ]
