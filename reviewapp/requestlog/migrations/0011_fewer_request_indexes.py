"""Indexes no query needs dropped: every row an import or a chat turn writes updated them all.

Every lookup of a request by conversation or by MLflow trace id is within one app, so the single
column indexes Django made for those fields (and their LIKE twins on PostgreSQL, which no query
uses) go, and one (app, mlflow_trace_id) index of the traced rows takes the trace's place. The
app's own foreign-key index goes too: every other index of both tables starts with the app. On
RetrievedDocument, the request's index is the start of retrieved_doc_once (request, doc_uri).

retrieved_doc_app_uri_time goes on PostgreSQL only, where retrieved_doc_app_uri_cover (0005) has
the same keys; SQLite has no covering index and keeps it, outside the model state as that one is.

Built and dropped CONCURRENTLY on PostgreSQL so a large log keeps taking writes (hence not atomic).
"""

from django.db import migrations, models

TRACE_INDEX = models.Index(
    fields=["app", "mlflow_trace_id"], condition=~models.Q(mlflow_trace_id=""), name="req_app_trace"
)
# (table, index, definition for a way back); the _like ones exist on PostgreSQL only.
DROPPED = [
    ("requestlog_request", "requestlog_request_app_id_f5585b4f", "(app_id)"),
    ("requestlog_request", "requestlog_request_conversation_id_f3636697", "(conversation_id)"),
    (
        "requestlog_request",
        "requestlog_request_conversation_id_f3636697_like",
        "(conversation_id varchar_pattern_ops)",
    ),
    ("requestlog_request", "requestlog_request_mlflow_trace_id_b186e0e0", "(mlflow_trace_id)"),
    (
        "requestlog_request",
        "requestlog_request_mlflow_trace_id_b186e0e0_like",
        "(mlflow_trace_id varchar_pattern_ops)",
    ),
    ("requestlog_retrieveddocument", "requestlog_retrieveddocument_app_id_5424ad21", "(app_id)"),
    ("requestlog_retrieveddocument", "requestlog_retrieveddocument_request_id_7fe6bcd4", "(request_id)"),
]
POSTGRESQL_ONLY = [
    ("requestlog_retrieveddocument", "retrieved_doc_app_uri_time", "(app_id, doc_uri, created_at)")
]


def forwards(apps, schema_editor):
    model = apps.get_model("requestlog", "Request")
    postgresql = schema_editor.connection.vendor == "postgresql"
    if postgresql:
        with schema_editor.connection.cursor() as cursor:
            # A concurrent build that was interrupted leaves an invalid index behind: build it again.
            cursor.execute(
                "SELECT NOT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE i.relname = %s",
                [TRACE_INDEX.name],
            )
            row = cursor.fetchone()
        if row and row[0]:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {TRACE_INDEX.name}")
            row = None
        if row is None:
            schema_editor.add_index(model, TRACE_INDEX, concurrently=True)
        for _, name, _ in DROPPED + POSTGRESQL_ONLY:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    else:
        schema_editor.add_index(model, TRACE_INDEX)
        for _, name, _ in DROPPED:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def backwards(apps, schema_editor):
    model = apps.get_model("requestlog", "Request")
    if schema_editor.connection.vendor == "postgresql":
        for table, name, definition in DROPPED + POSTGRESQL_ONLY:
            schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {definition}")
        schema_editor.remove_index(model, TRACE_INDEX, concurrently=True)
    else:
        for table, name, definition in DROPPED:
            if not definition.endswith("varchar_pattern_ops)"):
                schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} {definition}")
        schema_editor.remove_index(model, TRACE_INDEX)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("requestlog", "0010_app_document")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
            state_operations=[
                migrations.AlterField(
                    model_name="request",
                    name="app",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="requests",
                        to="catalog.app",
                    ),
                ),
                migrations.AlterField(
                    model_name="request", name="conversation_id", field=models.CharField(max_length=100)
                ),
                migrations.AlterField(
                    model_name="request",
                    name="mlflow_trace_id",
                    field=models.CharField(blank=True, max_length=100),
                ),
                migrations.AddIndex("request", TRACE_INDEX),
                migrations.AlterField(
                    model_name="retrieveddocument",
                    name="app",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="+",
                        to="catalog.app",
                    ),
                ),
                migrations.AlterField(
                    model_name="retrieveddocument",
                    name="request",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="+",
                        to="requestlog.request",
                    ),
                ),
                migrations.RemoveIndex("retrieveddocument", "retrieved_doc_app_uri_time"),
            ],
        )
    ]
