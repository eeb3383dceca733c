"""req_app_time_not_ok: the request log filtered by status=error or incomplete.

Those rows are few, so with only req_app_time a page walked every row of the app, newest first,
until it found 51 (a rate of 1 in 1,000 read about 51,000 rows, each from the table for its status).
A partial index of the rows not `ok` holds just them, in the page's order; it costs a write only
for those rows.

Built CONCURRENTLY on PostgreSQL so a large log keeps taking writes meanwhile (hence not atomic).
"""

from django.db import migrations, models

INDEX = models.Index(
    fields=["app", "-created_at", "-request_id"], condition=~models.Q(status="ok"), name="req_app_time_not_ok"
)


def create(apps, schema_editor):
    model = apps.get_model("requestlog", "Request")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(model, INDEX, concurrently=True)
    else:
        schema_editor.add_index(model, INDEX)


def drop(apps, schema_editor):
    model = apps.get_model("requestlog", "Request")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(model, INDEX, concurrently=True)
    else:
        schema_editor.remove_index(model, INDEX)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("requestlog", "0007_figures_index_documents")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create, drop, elidable=False)],
            state_operations=[migrations.AddIndex("request", INDEX)],
        )
    ]
