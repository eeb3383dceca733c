"""Recording feedback: validation, the append-only effective-row rule, idempotency."""

import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from reviewapp.lib.parsers import problem_in
from reviewapp.monitoring import metrics
from reviewapp.requestlog import passages as passage_rules
from reviewapp.requestlog.models import Request

from . import summary
from .models import Assessment, FeedbackDraft, MlflowSync

TEXT_LIMIT_BYTES = 100 * 1024  # comment, corrected response, chunk comments, missing-source text
SHORT_TEXT_LIMIT = 2000  # other reason, doc_uri
LIST_LIMIT = 200
FIELDS = (
    "rating",
    "reasons",
    "other_reason",
    "comment",
    "corrected_response",
    "retrieval_assessments",
    "missing_sources",
)
RATINGS = {"positive", "negative"}
CHUNK_RATINGS = {"relevant", "not_relevant"}
OTHER = "other"


def _text(value, field: str, *, limit_bytes: int | None = None, limit_chars: int | None = None) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError({field: "Must be a string."})
    if limit_bytes is not None and len(value.encode()) > limit_bytes:
        raise ValidationError({field: f"Too long: at most {limit_bytes // 1024} kB."})
    if limit_chars is not None and len(value) > limit_chars:
        raise ValidationError({field: f"Too long: at most {limit_chars} characters."})
    return value


def _list(value, field: str) -> list:
    if not isinstance(value, list):
        raise ValidationError({field: "Must be a list."})
    if len(value) > LIST_LIMIT:
        raise ValidationError({field: f"At most {LIST_LIMIT} items."})
    return value


def _clean_reasons(value, choices: list[str]) -> list[str]:
    reasons: list[str] = []
    for item in _list(value, "reasons"):
        if not isinstance(item, str) or (item not in choices and item != OTHER):
            allowed = ", ".join([*choices, OTHER])
            raise ValidationError({"reasons": f"Unknown reason {item!r}; choose from: {allowed}."})
        if item not in reasons:
            reasons.append(item)
    return reasons


def _clean_retrieval(value, request: Request) -> list[dict]:
    """Passage ratings keyed by position; rating None removes a position's rating.

    Only the passages (what the model saw, duplicates merged) are rated; see requestlog.passages.
    """
    chunks = {passage["position"]: passage for passage in request.passages()}
    cleaned, seen = [], set()
    for index, item in enumerate(_list(value, "retrieval_assessments")):
        where = f"Item {index}"
        if not isinstance(item, dict):
            raise ValidationError({"retrieval_assessments": f"{where}: must be an object."})
        unknown = set(item) - {"position", "rating", "comment", "doc_uri"}
        if unknown:
            raise ValidationError(
                {"retrieval_assessments": f"{where}: unknown keys {', '.join(sorted(unknown))}."}
            )
        position = item.get("position")
        if isinstance(position, bool) or not isinstance(position, int) or position not in chunks:
            valid = ", ".join(str(p) for p in sorted(chunks)) or "none"
            raise ValidationError(
                {
                    "retrieval_assessments": f"{where}: position {position!r} is not a passage of "
                    f"this request (positions: {valid})."
                }
            )
        if position in seen:
            raise ValidationError({"retrieval_assessments": f"{where}: position {position} given twice."})
        seen.add(position)
        rating = item.get("rating")
        if rating is not None and rating not in CHUNK_RATINGS:
            raise ValidationError(
                {"retrieval_assessments": f"{where}: rating must be relevant or not_relevant."}
            )
        comment = _text(item.get("comment"), "retrieval_assessments", limit_bytes=TEXT_LIMIT_BYTES)
        cleaned.append(
            {
                "position": position,
                "doc_uri": chunks[position].get("doc_uri", ""),
                "rating": rating,
                "comment": comment,
            }
        )
    return cleaned


def _clean_missing(value) -> list[dict]:
    cleaned = []
    for index, item in enumerate(_list(value, "missing_sources")):
        if not isinstance(item, dict) or set(item) - {"doc_uri", "content"}:
            raise ValidationError(
                {"missing_sources": f"Item {index}: must be an object with doc_uri and/or content."}
            )
        doc_uri = _text(item.get("doc_uri"), "missing_sources", limit_chars=SHORT_TEXT_LIMIT).strip()
        content = _text(item.get("content"), "missing_sources", limit_bytes=TEXT_LIMIT_BYTES).strip()
        if not doc_uri and not content:
            raise ValidationError({"missing_sources": f"Item {index}: give a doc_uri, a content, or both."})
        cleaned.append({"doc_uri": doc_uri, "content": content})
    return cleaned


def clean_changes(*, request: Request, changes: dict) -> dict:
    """Validated `changes`, or ValidationError naming the field. Keys absent stay unchanged."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "Unknown field."))
    if not changes:
        raise ValidationError({"detail": f"Nothing to record: give at least one of {', '.join(FIELDS)}."})
    for name, value in changes.items():
        # The API's parser refuses such text already; a form post reaches here with it.
        if problem := problem_in({name: value}):
            raise ValidationError({name: f"{problem[0].upper()}{problem[1:]}, which cannot be stored."})
    cleaned: dict = {}
    if "rating" in changes:
        rating = changes["rating"] or ""
        if rating and rating not in RATINGS:
            raise ValidationError({"rating": "Must be positive or negative."})
        cleaned["rating"] = rating
    if "reasons" in changes:
        cleaned["reasons"] = _clean_reasons(changes["reasons"] or [], list(request.app.reasons or []))
    if "other_reason" in changes:
        cleaned["other_reason"] = _text(
            changes["other_reason"], "other_reason", limit_chars=SHORT_TEXT_LIMIT
        ).strip()
    if "comment" in changes:
        cleaned["comment"] = _text(changes["comment"], "comment", limit_bytes=TEXT_LIMIT_BYTES)
    if "corrected_response" in changes:
        text = _text(changes["corrected_response"], "corrected_response", limit_bytes=TEXT_LIMIT_BYTES)
        cleaned["corrected_response"] = text if text.strip() else None
    if "retrieval_assessments" in changes:
        cleaned["retrieval_assessments"] = _clean_retrieval(changes["retrieval_assessments"] or [], request)
    if "missing_sources" in changes:
        cleaned["missing_sources"] = _clean_missing(changes["missing_sources"] or [])
    return cleaned


def _state(row: Assessment | None) -> dict:
    if row is None:
        return {
            "rating": "",
            "reasons": [],
            "other_reason": "",
            "comment": "",
            "corrected_response": None,
            "retrieval_assessments": [],
            "missing_sources": [],
        }
    return {name: getattr(row, name) for name in FIELDS}


def _merge(current: dict, cleaned: dict, request: Request) -> dict:
    merged = {**current, **{k: v for k, v in cleaned.items() if k != "retrieval_assessments"}}
    if "retrieval_assessments" in cleaned:
        passage_of = passage_rules.passage_positions(request.chunks, request.app.context_span)
        by_position = {item["position"]: item for item in current["retrieval_assessments"]}
        for item in cleaned["retrieval_assessments"]:
            # A rating kept for another copy of this passage's document (before the app chose its
            # context span) would otherwise outlive the one given or cleared now.
            for stored in [p for p in by_position if passage_of.get(p) == item["position"]]:
                del by_position[stored]
            if item["rating"] is not None:
                by_position[item["position"]] = item
        merged["retrieval_assessments"] = [by_position[p] for p in sorted(by_position)]
    if OTHER in merged["reasons"] and not merged["other_reason"]:
        raise ValidationError({"other_reason": 'Say what the "other" reason is.'})
    return merged


@dataclass
class Recorded:
    assessment: Assessment | None
    created: bool  # False: an idempotent replay, or a change that changed nothing


@transaction.atomic
def record_feedback(
    *,
    request: Request,
    reviewer,
    changes: dict,
    assessment_id: uuid.UUID | None = None,
    queue=None,
) -> Recorded:
    """Merge `changes` into the reviewer's effective feedback and append it as a new complete row.

    The same `assessment_id` twice stores once (`.assessment` is the stored row); a change that
    changes nothing writes nothing (`.assessment` is the current row, None when there is none yet).
    `.created` says whether a row was written. A `request` from `visible_request(..., to_record=True)`
    carries the reviewer's drafts and the instructions version, which are otherwise queried here.
    """
    if queue is not None and queue.app_id != request.app_id:
        raise ValidationError({"queue": "This queue belongs to another app."})
    # One writer at a time per request, so two quick changes never merge into the same base.
    Request.objects.select_for_update(no_key=True).filter(pk=request.pk).values_list("pk").first()
    current = Assessment.objects.effective_for(request, reviewer)
    if assessment_id is not None and current is not None and current.assessment_id == assessment_id:
        return Recorded(current, created=False)  # a retry of the latest call
    cleaned = clean_changes(request=request, changes=changes)
    merged = _merge(_state(current), cleaned, request)
    _drop_drafts(request, reviewer, cleaned)
    if merged == _state(current) and (current is None or queue is None or queue.pk == current.queue_id):
        stored = Assessment.objects.filter(assessment_id=assessment_id).first() if assessment_id else None
        if stored is not None:
            return Recorded(_same_origin(stored, request, reviewer), created=False)
        # Nothing changes: no row (and None when there is no feedback at all yet).
        return Recorded(current, created=False)
    row = Assessment(
        assessment_id=assessment_id or uuid.uuid4(),
        request=request,
        app=request.app,
        reviewer=reviewer,
        source_id=reviewer.email,
        created_at=_after(current),
        app_version=request.app_version or request.app.version,
        instructions_version=_instructions_version(request),
        queue=queue,
        **merged,
    )
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        # An assessment_id sent before (a retry of an older call), or racing in right now.
        stored = Assessment.objects.get(assessment_id=row.assessment_id)
        return Recorded(_same_origin(stored, request, reviewer), created=False)
    summary.refresh(request, first_from=reviewer if current is None else None)
    # A rating counts when it is given or changed: an edit of the comment, or a queue's
    # re-submission of the same feedback, gives no new rating.
    if current is None or row.rating != current.rating:
        transaction.on_commit(lambda: metrics.count_feedback(app=request.app.slug, rating=row.rating))
    if request.mlflow_trace_id:
        sync = MlflowSync.objects.create(assessment=row)
        transaction.on_commit(lambda: _enqueue_sync(sync.pk))
    row.is_effective = True  # the newest row; saves the serializer a query
    return Recorded(row, created=True)


def _instructions_version(request: Request) -> int | None:
    if hasattr(request, "instructions_in_force"):
        return request.instructions_in_force
    instructions = request.app.current_instructions()
    return instructions.version if instructions else None


def _drop_drafts(request: Request, reviewer, cleaned: dict) -> None:
    """Text saved by any path (panel, queue submit, API) makes the reviewer's draft of it obsolete."""
    if getattr(request, "reviewer_has_drafts", True) is False:
        return
    fields = [name for name in ("comment", "other_reason", "corrected_response") if name in cleaned]
    fields += [f"chunk_comment_{item['position']}" for item in cleaned.get("retrieval_assessments", [])]
    if fields:
        FeedbackDraft.objects.filter(request=request, reviewer=reviewer, field__in=fields).delete()


def _same_origin(stored: Assessment, request: Request, reviewer) -> Assessment:
    if stored.request_id != request.pk or stored.reviewer_id != reviewer.pk:
        raise ValidationError({"assessment_id": "This id is already used by another assessment."})
    return stored


def _after(current: Assessment | None):
    """Now, but never before the row it supersedes (clock steps must not reorder history)."""
    now = timezone.now()
    if current is not None and now <= current.created_at:
        return current.created_at + timezone.timedelta(microseconds=1)
    return now


def _enqueue_sync(sync_id: int) -> None:
    from reviewapp.jobs.sending import send

    from .tasks import sync_to_mlflow

    # One short try: with the broker down the reviewer must not wait; the row stays pending and
    # the periodic sweep queues it.
    send(sync_to_mlflow, (sync_id,))
