from django.apps import AppConfig


class FrontConfig(AppConfig):
    name = "reviewapp.front"

    def ready(self):
        from . import api_schema  # noqa: F401  (registers its schema extension)
