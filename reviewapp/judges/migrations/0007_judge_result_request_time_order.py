# The index of a version's results by their request's time also holds the request: the request
# log's whole page order, so a page is read in order with no sort.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("judges", "0006_judge_result_request_time")]

    operations = [
        migrations.RemoveIndex(model_name="judgeresult", name="judgeresult_version_request_time"),
        migrations.AddIndex(
            model_name="judgeresult",
            index=models.Index(
                fields=["version", "request_created_at", "request"], name="judgeresult_version_req_time"
            ),
        ),
    ]
