from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "reviewapp.jobs"
