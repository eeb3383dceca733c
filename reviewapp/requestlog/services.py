import uuid

from django.db import transaction

from reviewapp.catalog.models import App
from reviewapp.chains.base import ChainResult

from .models import Request


@transaction.atomic
def log_turn(
    *,
    app: App,
    user,
    source: str,
    messages: list[dict],
    conversation_id: str | None = None,
    result: ChainResult | None = None,
    error: str = "",
    request_id: uuid.UUID | None = None,
    created_at=None,
) -> Request:
    """Write one request-log row for a turn, successful (`result`) or failed (`error`)."""
    fields = {
        "app": app,
        "app_version": app.version,
        "conversation_id": conversation_id or str(uuid.uuid4()),
        "source": source,
        "user": user if getattr(user, "is_authenticated", False) else None,
        "messages": messages,
    }
    if request_id:
        fields["request_id"] = request_id
    if created_at:
        fields["created_at"] = created_at
    if result is not None:
        fields.update(
            response=result.response,
            status=Request.Status.OK,
            trace=result.trace,
            mlflow_trace_id=result.mlflow_trace_id,
            chunks=result.chunks,
            latency_ms=result.latency_ms,
            request_tokens=result.request_tokens,
            response_tokens=result.response_tokens,
            total_tokens=result.total_tokens,
        )
    else:
        fields.update(status=Request.Status.ERROR, error=error or "The chain failed")
    return Request.objects.create(**fields)
