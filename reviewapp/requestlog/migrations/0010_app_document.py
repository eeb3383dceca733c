"""AppDocument: each app's documents once, with when a request first retrieved them, filled from the
RetrievedDocument rows kept before (one INSERT … SELECT, on both databases)."""

import django.db.models.deletion
from django.db import migrations, models


def list_existing_documents(apps, schema_editor):
    documents = apps.get_model("requestlog", "AppDocument")._meta.db_table
    retrieved = apps.get_model("requestlog", "RetrievedDocument")._meta.db_table
    schema_editor.execute(
        f"INSERT INTO {documents} (app_id, doc_uri, first_seen) "
        f"SELECT app_id, doc_uri, MIN(created_at) FROM {retrieved} GROUP BY app_id, doc_uri"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_app_example_questions"),
        ("requestlog", "0009_comparison_source"),
    ]

    operations = [
        migrations.CreateModel(
            name="AppDocument",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("doc_uri", models.CharField(max_length=1000)),
                ("first_seen", models.DateTimeField()),
                (
                    "app",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="catalog.app",
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("app", "doc_uri"), name="app_document_once")],
            },
        ),
        migrations.RunPython(list_existing_documents, migrations.RunPython.noop, elidable=False),
    ]
