from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("feedback", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="mlflowsync",
            name="locked_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
