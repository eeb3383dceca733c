# Judge results carry their request's time, indexed by version: the request log's judge filter pages
# by it. Added empty, filled from the requests, then required.

from django.db import migrations, models
from django.db.models import OuterRef, Subquery

import reviewapp.judges.models


def copy_request_times(apps, schema_editor):
    JudgeResult = apps.get_model("judges", "JudgeResult")
    Request = apps.get_model("requestlog", "Request")
    times = Request.objects.filter(pk=OuterRef("request_id")).values("created_at")[:1]
    JudgeResult.objects.update(request_created_at=Subquery(times))


class Migration(migrations.Migration):
    dependencies = [
        ("judges", "0005_mlflow_write_back"),
        ("requestlog", "0008_request_not_ok_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="judgeresult",
            name="request_created_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.RunPython(copy_request_times, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="judgeresult",
            name="request_created_at",
            field=reviewapp.judges.models.RequestTimeCopy(),
        ),
        migrations.AddIndex(
            model_name="judgeresult",
            index=models.Index(
                fields=["version", "request_created_at"], name="judgeresult_version_request_time"
            ),
        ),
    ]
