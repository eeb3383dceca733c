"""A retrieved document's request (RetrievedDocument.request) keeps no foreign-key constraint in the
database on PostgreSQL, as its app already does (0012): the catalog changes only.

Each document written checked its request at commit, four or more per traced request imported: a
tenth of the server's CPU for such a request, and most of its commit. The rows are derived from
their request's chunks and written with it, in the same transaction, by every writer
(log_turn, the import's COPY and its plain inserts); deleting a request or its app still deletes
its documents through Django's CASCADE, and the unique (request, doc_uri) index still finds them by
request. On SQLite nothing changes in the database: dropping a constraint there rebuilds the table.
"""

from django.db import migrations, models

TABLE = "requestlog_retrieveddocument"


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    for name, constraint in constraints.items():
        if constraint["foreign_key"] and constraint["columns"] == ["request_id"]:
            schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {name}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # NOT VALID, then validated: the check of the rows there takes no lock that stops writes.
    name = f"{TABLE}_request_id_fk_requestlog_request"
    schema_editor.execute(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} FOREIGN KEY (request_id) "
        "REFERENCES requestlog_request (request_id) DEFERRABLE INITIALLY DEFERRED NOT VALID"
    )
    schema_editor.execute(f"ALTER TABLE {TABLE} VALIDATE CONSTRAINT {name}")


class Migration(migrations.Migration):
    dependencies = [("requestlog", "0012_cheaper_document_and_trace_writes")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    "retrieveddocument",
                    "request",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="+",
                        to="requestlog.request",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
        ),
    ]
