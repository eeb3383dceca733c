from django.db import migrations, models

# The tasks of the kinds of jobs there were when the column came: an unfinished job's row names
# its task, so the jobs sweep can send it again.
TASKS = {
    "import_traces": "reviewapp.requestlog.import_traces",
    "export_evaluation_set": "exports.export_evaluation_set",
    "export_judge_examples": "exports.export_judge_examples",
}


def name_the_tasks(apps, schema_editor):
    jobs = apps.get_model("jobs", "Job").objects
    for kind, task in TASKS.items():
        jobs.filter(kind=kind, task="").update(task=task)


class Migration(migrations.Migration):
    dependencies = [("jobs", "0002_job_lease_until")]

    operations = [
        migrations.AddField(
            model_name="job", name="task", field=models.CharField(blank=True, max_length=200)
        ),
        migrations.AddField(
            model_name="job", name="sent_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(
                condition=models.Q(("status__in", ["queued", "running"])),
                fields=["sent_at"],
                name="job_unfinished_sent_at",
            ),
        ),
        migrations.RunPython(name_the_tasks, migrations.RunPython.noop),
    ]
