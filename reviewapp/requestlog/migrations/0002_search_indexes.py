"""Trigram indexes for the request log's text search (PostgreSQL only).

`Request.objects.search()` filters with ILIKE '%text%' on the response and on the messages
as text; without these, a search over 1,000,000 rows reads them all. pg_trgm is a trusted
extension (PostgreSQL 13+), so the database owner may create it; where it cannot be created,
the search still works, only slower, and the migration says so instead of failing.
"""

import logging

from django.db import migrations, transaction

log = logging.getLogger(__name__)

CREATE = [
    "CREATE INDEX IF NOT EXISTS req_response_trgm ON requestlog_request USING gin (response gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS req_messages_trgm ON requestlog_request "
    "USING gin ((messages::text) gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS req_response_trgm", "DROP INDEX IF EXISTS req_messages_trgm"]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:  # no privilege: keep going without the indexes
        log.warning("pg_trgm is not available (%s); request-log text search will not be indexed", exc)
        return
    for sql in CREATE:
        schema_editor.execute(sql)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in DROP:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("requestlog", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
