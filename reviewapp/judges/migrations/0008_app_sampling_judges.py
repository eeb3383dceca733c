# The apps' copy of their sampling judges (catalog.App.sampling_judges), as keep_sampling writes it.

from django.db import migrations


def fill(apps, schema_editor):
    App = apps.get_model("catalog", "App")
    Judge = apps.get_model("judges", "Judge")
    found: dict[int, list] = {}
    sampling = Judge.objects.filter(deleted_at__isnull=True, sample_percent__gt=0).order_by("app_id", "name")
    for app_id, pk, percent in sampling.values_list("app_id", "pk", "sample_percent"):
        found.setdefault(app_id, []).append([pk, percent])
    for app_id, judges in found.items():
        App.objects.filter(pk=app_id).update(sampling_judges=judges)


class Migration(migrations.Migration):
    dependencies = [
        ("judges", "0007_judge_result_request_time_order"),
        ("catalog", "0007_app_sampling_judges"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
