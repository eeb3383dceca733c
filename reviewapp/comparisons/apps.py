from django.apps import AppConfig


class ComparisonsConfig(AppConfig):
    name = "reviewapp.comparisons"
