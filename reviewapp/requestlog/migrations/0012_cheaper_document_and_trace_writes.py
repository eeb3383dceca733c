"""Cheaper writes of traced requests on PostgreSQL, in the catalog only: no table is scanned or
rewritten, and each ALTER holds its lock for an instant.

- The documents' app (RetrievedDocument.app, AppDocument.app) keeps no foreign-key constraint in
  the database: each row written checked it at commit (about 4 us, four or more per traced request
  imported), although the app is the one of the document's request, checked already. Deleting an
  app still deletes its documents: Django's CASCADE collects them, and the constraint never did.
- lz4 instead of pglz compresses the request's large columns (trace, chunks, messages, response):
  pglz was about a tenth of the server's CPU for a request with a 3 KB trace. Values stored before
  keep their compression and read as ever. Skipped where PostgreSQL was built without lz4.

On SQLite nothing changes in the database: dropping a constraint there rebuilds the table.
"""

from django.db import migrations, models

DOCUMENT_TABLES = ["requestlog_retrieveddocument", "requestlog_appdocument"]
COMPRESSED = ["trace", "chunks", "messages", "response"]


def _lz4_built_in(cursor) -> bool:
    cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
    row = cursor.fetchone()
    return bool(row and row[0])


def _compress(schema_editor, method: str) -> None:
    columns = ", ".join(f"ALTER COLUMN {name} SET COMPRESSION {method}" for name in COMPRESSED)
    schema_editor.execute(f"ALTER TABLE requestlog_request {columns}")


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in DOCUMENT_TABLES:
            for name, constraint in connection.introspection.get_constraints(cursor, table).items():
                if constraint["foreign_key"] and constraint["columns"] == ["app_id"]:
                    schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        lz4 = _lz4_built_in(cursor)
    if lz4:
        _compress(schema_editor, "lz4")


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    for table in DOCUMENT_TABLES:
        # NOT VALID, then validated: the check of the rows there takes no lock that stops writes.
        name = f"{table}_app_id_fk_catalog_app_id"
        schema_editor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY (app_id) REFERENCES catalog_app (id) "
            "DEFERRABLE INITIALLY DEFERRED NOT VALID"
        )
        schema_editor.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")
    _compress(schema_editor, "DEFAULT")


def _app(**extra):
    import django.db.models.deletion

    return models.ForeignKey(
        db_index=False,
        on_delete=django.db.models.deletion.CASCADE,
        related_name="+",
        to="catalog.app",
        **extra,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_app_example_questions"),
        ("requestlog", "0011_fewer_request_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField("retrieveddocument", "app", _app(db_constraint=False)),
                migrations.AlterField("appdocument", "app", _app(db_constraint=False)),
            ],
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
        ),
    ]
