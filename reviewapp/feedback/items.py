"""The review item: one request as its reviewer reads it, with their effective feedback on it."""

from django.db.models import F, Func, IntegerField

from reviewapp.catalog.models import App
from reviewapp.catalog.permissions import can
from reviewapp.lib.compiled import CompiledQuery
from reviewapp.requestlog.errors import error_summary
from reviewapp.requestlog.models import Request

from .models import Assessment, MlflowSync


def _latest(shape: tuple, *, request_id, reviewer_id):
    # The latest row is the effective one (AssessmentQuerySet's rule), with its write-back's status.
    return (
        Assessment.objects.filter(request_id=request_id, reviewer_id=reviewer_id)
        .annotate(sync_status=F("mlflow_sync__status"))
        .order_by("-created_at", "-id")[:1]
    )


# Every review item reads it: compiled once per process (lib/compiled.py).
LATEST = CompiledQuery(Assessment, _latest)


class SpanCount(Func):
    """How many spans `tracing.spans` finds in a stored trace, counted by the database: the spans of
    `data`, else the top-level ones, else none (an empty list counts as none, as there)."""

    output_field = IntegerField()
    _TEMPLATES = {
        "postgresql": (
            "CASE WHEN jsonb_typeof(%(expressions)s -> 'data' -> 'spans') = 'array'"
            " AND jsonb_array_length(%(expressions)s -> 'data' -> 'spans') > 0"
            " THEN jsonb_array_length(%(expressions)s -> 'data' -> 'spans')"
            " WHEN jsonb_typeof(%(expressions)s -> 'spans') = 'array'"
            " THEN jsonb_array_length(%(expressions)s -> 'spans') ELSE 0 END"
        ),
        "sqlite": (
            "CASE WHEN json_type(%(expressions)s, '$.data.spans') = 'array'"
            " AND json_array_length(%(expressions)s, '$.data.spans') > 0"
            " THEN json_array_length(%(expressions)s, '$.data.spans')"
            " WHEN json_type(%(expressions)s, '$.spans') = 'array'"
            " THEN json_array_length(%(expressions)s, '$.spans') ELSE 0 END"
        ),
    }

    def as_sql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template=self._TEMPLATES[connection.vendor], **extra)


def review_item(req: Request, *, reader, app: App) -> dict:
    """`req` (from access.visible_request with `as_item`, which counts its trace's spans) for
    `reader`: one more query, for their feedback.

    A failed turn's error reads in words for reviewers; the app's managers get the chain's details.
    """
    feedback = LATEST.first((), request_id=req.request_id, reviewer_id=reader.pk)
    if feedback is not None:
        # What the serializer would otherwise ask the database for, one query each.
        feedback.request, feedback.app, feedback.is_effective = req, app, True
        if feedback.sync_status is not None:
            feedback.mlflow_sync = MlflowSync(assessment=feedback, status=feedback.sync_status)
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
            "spans": req.trace_spans,
            "latency_ms": req.latency_ms,
            "request_tokens": req.request_tokens,
            "response_tokens": req.response_tokens,
            "total_tokens": req.total_tokens,
        },
        "feedback": feedback,
    }
