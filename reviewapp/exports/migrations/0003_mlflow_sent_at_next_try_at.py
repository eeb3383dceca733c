from django.db import migrations, models
from django.utils import timezone


def retries_due_now(apps, schema_editor):
    """Steps that failed before and wait for a retry message nobody recorded: due now, so the
    sweep sends them again should that message be gone (a duplicate does nothing)."""
    for name in ("EvaluationSetVersion", "JudgeExport"):
        apps.get_model("exports", name).objects.filter(
            mlflow_status="pending", mlflow_attempts__gt=0, mlflow_lease_until__isnull=True
        ).update(mlflow_next_try_at=timezone.now())


class Migration(migrations.Migration):
    dependencies = [
        ("exports", "0002_mlflow_lease"),
    ]

    operations = [
        migrations.AddField(
            model_name="evaluationsetversion",
            name="mlflow_next_try_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="evaluationsetversion",
            name="mlflow_sent_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="judgeexport",
            name="mlflow_next_try_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="judgeexport",
            name="mlflow_sent_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(retries_due_now, migrations.RunPython.noop),
    ]
