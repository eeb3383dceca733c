"""Covering indexes for the quality figures (PostgreSQL only), measured by benchmarks/quality.py.

- req_app_time_figures: quality() counts one app's requests by version and bucket (status, source,
  tokens) and takes latency percentiles over a time range. A request row is wide (messages,
  response, chunks, the trace): at 1,000,000 requests a 30-day range read 615 MB of rows; with
  every column those figures read in the index, an index-only scan reads about 90 MB. `request_id`
  is there for joins from a range of requests.
- retrieved_doc_app_uri_cover: drift finds the rows of each new document in the window through
  (app, doc_uri, created_at); without the version and the request in the index, each row is a
  heap fetch (90 days with an empty baseline: 3,000,000 of them, 8.8 s; index-only: 1.7 s).

Built CONCURRENTLY so a large log keeps taking writes meanwhile (hence not atomic). SQLite has no
INCLUDE; there the figures are bound by its per-row date functions more than by reading rows.
"""

from django.db import migrations

INDEXES = {
    "req_app_time_figures": "requestlog_request (app_id, created_at) INCLUDE (app_version, status, "
    "source, latency_ms, request_tokens, response_tokens, total_tokens, request_id)",
    "retrieved_doc_app_uri_cover": "requestlog_retrieveddocument (app_id, doc_uri, created_at) "
    "INCLUDE (app_version, request_id)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name, definition in INDEXES.items():
            # A concurrent build that was interrupted leaves an invalid index behind: build it again.
            cursor.execute(
                "SELECT NOT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE i.relname = %s",
                [name],
            )
            row = cursor.fetchone()
            if row and row[0]:
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {definition}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("requestlog", "0004_retrieved_document")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
