from django.apps import AppConfig


class RequestlogConfig(AppConfig):
    name = "reviewapp.requestlog"
