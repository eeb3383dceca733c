"""The Feedback API's answers as plain dicts: exactly what `serializers.AssessmentOut` and
`serializers.ReviewItemOut` give (same keys, order, formats and nulls), which stay the schema.

DRF builds and deep-copies a serializer's fields on every use, the nested ones included: on the
review item's read that cost more than its three queries. These functions convert each value as
the serializer's field does (`str` for a UUIDField or CharField, `int` for an IntegerField, DRF's
own DateTimeField for times), and skip the conversion for a null, as a serializer does.
"""

from rest_framework import serializers

from .models import Assessment

# DRF's own conversion: ISO 8601 in the current time zone, "Z" for UTC.
_DATETIME = serializers.DateTimeField()


def is_effective(row: Assessment) -> bool:
    """True for the reviewer's latest row on the request (what they think now)."""
    if hasattr(row, "is_effective"):
        return row.is_effective
    return not Assessment.objects.later_than(row).exists()


def mlflow_sync_status(row: Assessment) -> str | None:
    """pending / done / failed / skipped; null when the request has no MLflow trace."""
    if not row.request.mlflow_trace_id:
        return None
    try:
        return row.mlflow_sync.status
    except Assessment.mlflow_sync.RelatedObjectDoesNotExist:
        return None


def assessment_out(row: Assessment) -> dict:
    """What AssessmentOut(row).data holds."""
    return {
        "assessment_id": _str(row.assessment_id),
        "request_id": _str(row.request.pk),
        "app": _str(row.app.slug),
        "source": {"source_type": "HUMAN", "source_id": row.source_id},
        "created_at": _datetime(row.created_at),
        "rating": row.rating,  # a ChoiceField gives back its choices' own strings
        "reasons": row.reasons,
        "other_reason": _str(row.other_reason),
        "comment": _str(row.comment),
        "corrected_response": _str(row.corrected_response),
        "retrieval_assessments": row.retrieval_assessments,
        "missing_sources": row.missing_sources,
        "app_version": _str(row.app_version),
        "instructions_version": _int(row.instructions_version),
        "queue": row.queue_id,
        "effective": is_effective(row),
        "mlflow_sync": mlflow_sync_status(row),
    }


def review_item_out(item: dict) -> dict:
    """What ReviewItemOut(item).data holds, for `item` from items.review_item."""
    trace, feedback, messages = item["trace"], item["feedback"], item["messages"]
    return {
        "request_id": _str(item["request_id"]),
        "conversation_id": _str(item["conversation_id"]),
        "app_version": _str(item["app_version"]),
        "source": _str(item["source"]),
        "status": _str(item["status"]),
        "created_at": _datetime(item["created_at"]),
        "messages": None
        if messages is None
        else [
            None if message is None else {str(key): value for key, value in message.items()}
            for message in messages
        ],
        "response": _str(item["response"]),
        "error": _str(item["error"]),
        "passages": [
            {
                "number": _int(passage["number"]),
                "position": _int(passage["position"]),
                "doc_uri": _str(passage["doc_uri"]),
                "content": _str(passage["content"]),
                "spans": None if passage["spans"] is None else [_str(span) for span in passage["spans"]],
            }
            for passage in item["passages"]
        ],
        "trace": {
            "mlflow_trace_id": _str(trace["mlflow_trace_id"]),
            "spans": _int(trace["spans"]),
            "latency_ms": _int(trace["latency_ms"]),
            "request_tokens": _int(trace["request_tokens"]),
            "response_tokens": _int(trace["response_tokens"]),
            "total_tokens": _int(trace["total_tokens"]),
        },
        "feedback": None if feedback is None else assessment_out(feedback),
    }


def _str(value):
    return None if value is None else str(value)


def _int(value):
    return None if value is None else int(value)


def _datetime(value):
    return None if value is None else _DATETIME.to_representation(value)
