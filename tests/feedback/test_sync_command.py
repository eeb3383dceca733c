from django.core.management import call_command

from reviewapp.feedback.models import MlflowSync
from reviewapp.feedback.services import record_feedback
from tests import factories


def test_a_trace_missing_from_the_tracking_store_is_skipped_with_the_reason(app, querier, capsys):
    req = factories.make_request(app, user=querier, mlflow_trace_id="tr-0123456789abcdef0123456789abcdef")
    record_feedback(request=req, reviewer=querier, changes={"rating": "positive"})

    call_command("sync_feedback_to_mlflow")

    sync = MlflowSync.objects.get()
    assert sync.status == "skipped" and sync.attempts == 1
    assert "tr-0123456789abcdef0123456789abcdef" in sync.last_error
    assert "skipped 1" in capsys.readouterr().out


def test_the_command_reports_a_store_it_cannot_reach_and_keeps_the_row_open(app, querier, settings, capsys):
    settings.MLFLOW_TRACKING_URI = "sqlite:////dev/null/unreachable/mlflow.db"
    req = factories.make_request(app, user=querier, mlflow_trace_id="tr-0123456789abcdef0123456789abcdef")
    record_feedback(request=req, reviewer=querier, changes={"rating": "positive"})
    call_command("sync_feedback_to_mlflow")

    sync = MlflowSync.objects.get()
    assert sync.status == "failed" and sync.last_error
    assert "failed 1, busy 0; still open 1" in capsys.readouterr().out
