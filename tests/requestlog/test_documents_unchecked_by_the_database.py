"""The documents' app and request have no foreign-key constraint in the database on PostgreSQL
(each document written paid for checking them at commit), and deleting an app or a request still
deletes its documents, as Django's CASCADE does; the request's large columns are compressed with lz4
where it is built in."""

import pytest
from django.db import connection

from reviewapp.catalog.models import App
from reviewapp.requestlog.models import AppDocument, Request, RetrievedDocument
from reviewapp.requestlog.storage import ImportReport, import_rows
from tests import factories
from tests.requestlog.helpers import row, trace_dict

DOCS = [("docs://a", "Alpha text"), ("docs://b", "Beta text")]


def traced_rows(first: int, count: int) -> list[tuple[int, dict]]:
    return [
        (n, row(n, trace=trace_dict(f"Q{n}", f"A{n}", trace_id=f"tr-{n:032x}", docs=DOCS)))
        for n in range(first, first + count)
    ]


def test_deleting_an_app_deletes_its_requests_and_documents_and_no_other_apps(app):
    other = factories.make_app("other-bot", name="Other bot")
    import_rows(app=app, rows=traced_rows(1, 3), report=ImportReport("t"))
    import_rows(app=other, rows=traced_rows(4, 2), report=ImportReport("t"))
    assert RetrievedDocument.objects.filter(app=app).count() == 6
    assert AppDocument.objects.filter(app=app).count() == 2

    App.objects.filter(pk=app.pk).delete()

    assert not Request.objects.filter(app_id=app.pk).exists()
    assert not RetrievedDocument.objects.filter(app_id=app.pk).exists()
    assert not AppDocument.objects.filter(app_id=app.pk).exists()
    assert RetrievedDocument.objects.filter(app=other).count() == 4
    assert AppDocument.objects.filter(app=other).count() == 2


def test_deleting_a_request_deletes_its_documents_and_no_others(app):
    import_rows(app=app, rows=traced_rows(1, 3), report=ImportReport("t"))
    gone, kept = Request.objects.filter(app=app).order_by("created_at")[:2]

    Request.objects.filter(pk=gone.pk).delete()

    assert not RetrievedDocument.objects.filter(request_id=gone.pk).exists()
    assert RetrievedDocument.objects.filter(request_id=kept.pk).count() == 2
    assert RetrievedDocument.objects.filter(app=app).count() == 4


@pytest.mark.django_db
def test_the_documents_app_and_request_are_unchecked_on_postgresql_and_sqlites_tables_are_left_as_they_were():
    with connection.cursor() as cursor:
        foreign_keys = {
            (table, tuple(constraint["columns"]))
            for table in ("requestlog_retrieveddocument", "requestlog_appdocument")
            for constraint in connection.introspection.get_constraints(cursor, table).values()
            if constraint["foreign_key"]
        }
        if connection.vendor != "postgresql":
            # Dropping a constraint on SQLite rebuilds the table: the migration leaves it be.
            assert foreign_keys == {
                ("requestlog_retrieveddocument", ("request_id",)),
                ("requestlog_retrieveddocument", ("app_id",)),
                ("requestlog_appdocument", ("app_id",)),
            }
            return
        cursor.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
        lz4 = cursor.fetchone()[0]
        cursor.execute(
            "SELECT attname, attcompression FROM pg_attribute "
            "WHERE attrelid = 'requestlog_request'::regclass AND attname IN ('trace', 'chunks', 'messages', 'response')"
        )
        compression = dict(cursor.fetchall())
    assert foreign_keys == set()
    if lz4:
        assert compression == {"trace": "l", "chunks": "l", "messages": "l", "response": "l"}
