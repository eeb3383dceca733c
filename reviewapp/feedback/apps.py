from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "reviewapp.feedback"

    def ready(self):
        from reviewapp.catalog.signals import context_span_changed

        from . import summary

        context_span_changed.connect(summary.rebuild_on_context_span_change, dispatch_uid="feedback-summary")
