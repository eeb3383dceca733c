"""Statistics on each time bucket of the feedback summaries (PostgreSQL only).

quality() groups the summaries by (version, hour / day / week of the request). Without statistics
on those expressions the planner takes every row for a group of its own, so at a few hundred
thousand rows it sorts on disk rather than hash the few hundred real groups in memory (90 days
at 1,000,000 requests: 445 ms sorting, 138 ms hashed; benchmarks/quality.py). The expressions are
the ones quality() writes (monitoring.quality.DATE_BIN, frozen here), so the planner matches them.
"""

from django.db import migrations

TABLE = "feedback_requestfeedback"
BUCKETS = ("hour", "day", "week")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for bucket in BUCKETS:
        schema_editor.execute(
            f"CREATE STATISTICS IF NOT EXISTS fb_version_{bucket} ON app_version, "
            f"(date_bin('1 {bucket}'::interval, request_created_at, '2000-01-03 00:00:00+00'::timestamptz)) "
            f"FROM {TABLE}"
        )
    schema_editor.execute(f"ANALYZE {TABLE}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for bucket in BUCKETS:
            schema_editor.execute(f"DROP STATISTICS IF EXISTS fb_version_{bucket}")


class Migration(migrations.Migration):
    dependencies = [("feedback", "0004_feedback_reviewer")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
