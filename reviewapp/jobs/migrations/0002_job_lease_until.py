from datetime import timedelta

from django.db import migrations
from django.db.models import F

# The old column held the last heartbeat, stale a minute later; the new one holds that minute's end.
LEASE = timedelta(seconds=60)


def heartbeat_to_lease(apps, schema_editor):
    # Only a running job holds a lease; a finished one holds none (NULL), as succeed/fail leave it.
    jobs = apps.get_model("jobs", "Job").objects
    jobs.filter(status="running", lease_until__isnull=False).update(lease_until=F("lease_until") + LEASE)
    jobs.exclude(status="running").update(lease_until=None)


def lease_to_heartbeat(apps, schema_editor):
    apps.get_model("jobs", "Job").objects.filter(status="running", lease_until__isnull=False).update(
        lease_until=F("lease_until") - LEASE
    )


class Migration(migrations.Migration):
    dependencies = [("jobs", "0001_initial")]

    operations = [
        migrations.RenameField(model_name="job", old_name="heartbeat_at", new_name="lease_until"),
        migrations.RunPython(heartbeat_to_lease, lease_to_heartbeat),
    ]
