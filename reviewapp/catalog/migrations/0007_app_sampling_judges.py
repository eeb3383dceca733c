from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_app_example_questions")]

    operations = [
        migrations.AddField(
            model_name="app",
            name="sampling_judges",
            field=models.JSONField(blank=True, default=list, editable=False),
        ),
    ]
