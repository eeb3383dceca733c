from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "reviewapp.catalog"
