from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from reviewapp.front.demo import load_demo


class Command(BaseCommand):
    help = (
        "Load the demo: the demo chain registered in MLflow, the docs-assistant app, three demo "
        "users and historical turns in its request log. Safe to run again: it adds nothing twice."
    )

    def handle(self, *args, **options):
        # Where the demo password and the demo chain's lock file are kept (settings make no folder).
        Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
        summary = load_demo()
        if summary.created:
            self.stdout.write("Demo loaded: " + ", ".join(summary.created) + ".")
        else:
            self.stdout.write("Demo already loaded: nothing to add.")
        self.stdout.write(f"Demo chain: {summary.model_uri}")
