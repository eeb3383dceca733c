from django.apps import AppConfig


class JudgesConfig(AppConfig):
    name = "reviewapp.judges"
