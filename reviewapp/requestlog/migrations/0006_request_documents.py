from django.db import migrations, models
from django.db.models import Count, Exists, OuterRef, Subquery


def count_documents(apps, schema_editor):
    """Each request's number of RetrievedDocument rows (its distinct doc_uris), in one statement."""
    Request = apps.get_model("requestlog", "Request")
    RetrievedDocument = apps.get_model("requestlog", "RetrievedDocument")
    of_request = RetrievedDocument.objects.filter(request_id=OuterRef("pk")).order_by()
    counts = of_request.values("request_id").annotate(n=Count("*")).values("n")
    Request.objects.filter(Exists(of_request)).update(documents=Subquery(counts))


class Migration(migrations.Migration):
    dependencies = [("requestlog", "0005_quality_indexes")]

    operations = [
        migrations.AddField(
            model_name="request",
            name="documents",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(count_documents, migrations.RunPython.noop, elidable=False),
    ]
