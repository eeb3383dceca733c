"""The review item: one request as its reviewer reads it, with their effective feedback on it."""

from reviewapp.catalog.models import App
from reviewapp.catalog.permissions import can
from reviewapp.chains import tracing
from reviewapp.requestlog.errors import error_summary
from reviewapp.requestlog.models import Request

from .models import Assessment


def review_item(req: Request, *, reader, app: App) -> dict:
    """`req` (from access.visible_request) for `reader`: one more query, for their feedback.

    A failed turn's error reads in words for reviewers; the app's managers get the chain's details.
    """
    feedback = (
        Assessment.objects.filter(request=req, reviewer=reader)
        .latest_per_reviewer()
        .select_related("mlflow_sync")
        .first()
    )
    if feedback is not None:
        # What the serializer would otherwise ask the database for, one query each.
        feedback.request, feedback.app, feedback.is_effective = req, app, True
    error = req.error if can(app, "monitor") else (error_summary(req.error) if req.error else "")
    return {
        "request_id": req.request_id,
        "conversation_id": req.conversation_id,
        "app_version": req.app_version,
        "source": req.source,
        "status": req.status,
        "created_at": req.created_at,
        "messages": req.messages,
        "response": req.response,
        "error": error,
        "passages": [{"number": number, **passage} for number, passage in enumerate(req.passages(), start=1)],
        "trace": {
            "mlflow_trace_id": req.mlflow_trace_id,
            "spans": len(tracing.spans(req.trace)),
            "latency_ms": req.latency_ms,
            "request_tokens": req.request_tokens,
            "response_tokens": req.response_tokens,
            "total_tokens": req.total_tokens,
        },
        "feedback": feedback,
    }
