from django.apps import AppConfig


class ChainsConfig(AppConfig):
    name = "reviewapp.chains"

    def ready(self):
        from .egress import check_settings

        # A bad egress setting stops start-up, naming the variable, like every other setting.
        check_settings()
