"""A covering index for the quality figures of the request log (PostgreSQL only).

quality() counts requests by version and bucket (status, source, tokens) and takes latency
percentiles over a time range of one app. With only (app, created_at) indexed, PostgreSQL reads
the rows themselves, and a request row is wide (messages, response, chunks, the trace): at
1,000,000 requests a 30-day range read 615 MB. With every column those figures read in the index,
an index-only scan reads about 90 MB (benchmarks/quality.py). `request_id` is there for joins from
a range of requests.

Built CONCURRENTLY so a large log keeps taking writes meanwhile (hence not atomic). SQLite has no
INCLUDE; there the figures are bound by its per-row date functions more than by reading rows.
"""

from django.db import migrations

NAME = "req_app_time_figures"
CREATE = (
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} ON requestlog_request (app_id, created_at) "
    "INCLUDE (app_version, status, source, latency_ms, request_tokens, response_tokens, total_tokens, request_id)"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        # A concurrent build that was interrupted leaves an invalid index behind: build it again.
        cursor.execute(
            "SELECT NOT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE i.relname = %s",
            [NAME],
        )
        row = cursor.fetchone()
        if row and row[0]:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")
        cursor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("requestlog", "0004_retrieved_document")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
