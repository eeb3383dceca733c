"""Settling a disputed item: the final label, its audit row, and its way to MLflow."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from reviewapp.feedback.services import TEXT_LIMIT_BYTES
from reviewapp.jobs.sending import send
from reviewapp.queues.models import QueueEvent, ReviewQueue

from .disputes import Case
from .models import Adjudication, MlflowStatus

RATINGS = ("positive", "negative")
CHUNK_RATINGS = ("relevant", "not_relevant")
NOTE_LIMIT_BYTES = 10 * 1024
CHANGED = (
    "queue",
    "rating",
    "relevant",
    "corrected_response",
    "chosen_reviewer",
    "note",
    "adjudicator",
    "updated_at",
    "revision",
)
# What the audit log compares before and after.
AUDITED = ("rating", "relevant", "corrected_response", "chosen", "note")


def _text(errors: dict, field: str, value, limit_bytes: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[field] = ["Must be a string."]
        return ""
    if len(value.encode("utf-8", "surrogatepass")) > limit_bytes:
        errors[field] = [f"Too long: at most {limit_bytes // 1024} kB."]
    elif "\x00" in value:
        errors[field] = ["Must not hold a NUL character."]
    elif any("\ud800" <= ch <= "\udfff" for ch in value):
        errors[field] = ["Must not hold an unpaired surrogate."]
    return value


def _relevance(errors: dict, case: Case, relevant) -> dict[str, bool]:
    """{position (text): relevant?} from {position: "relevant" | "not_relevant"} over the passages."""
    if relevant is None:
        return {}
    if not isinstance(relevant, dict):
        errors["relevant"] = ["Must be an object of passage positions and ratings."]
        return {}
    positions = {p["position"] for p in case.request.passages()}
    cleaned = {}
    for key, rating in relevant.items():
        position = int(key) if isinstance(key, str) and key.isascii() and key.isdigit() else key
        if isinstance(position, bool) or not isinstance(position, int) or position not in positions:
            valid = ", ".join(str(p) for p in sorted(positions)) or "none"
            errors["relevant"] = [f"{key!r} is not a passage of this request (positions: {valid})."]
            return {}
        if rating not in CHUNK_RATINGS:
            errors["relevant"] = [f"Passage {position}: the rating must be relevant or not_relevant."]
            return {}
        cleaned[str(position)] = rating == "relevant"
    return dict(sorted(cleaned.items(), key=lambda kv: int(kv[0])))


def _audited(adjudication: Adjudication | None, case: Case) -> dict:
    if adjudication is None:
        return dict.fromkeys(AUDITED)
    chosen = next((r.label for r in case.reviews if r.reviewer_id == adjudication.chosen_reviewer_id), None)
    return {
        "rating": adjudication.rating,
        "relevant": adjudication.relevant,
        "corrected_response": adjudication.corrected_response,
        "chosen": chosen,
        "note": adjudication.note,
    }


@transaction.atomic
def adjudicate(
    *,
    queue: ReviewQueue,
    case: Case,
    adjudicator,
    pick: int | None = None,
    rating: str = "",
    relevant: dict | None = None,
    corrected_response: str | None = None,
    note: str = "",
) -> Adjudication:
    """Set or replace the final label of a disputed item of `queue`.

    Either `pick` (a reviewer's number on the item: their thumbs, passage ratings and correction
    are taken as they are) or the label written here (`rating`, required; `relevant`, passage
    position → relevant | not_relevant; `corrected_response`). The reviewers' own rows stay as
    they are. Raises ValidationError naming each field at fault.
    """
    errors: dict[str, list[str]] = {}
    note = _text(errors, "note", note, NOTE_LIMIT_BYTES)
    chosen = None
    if pick is not None:
        written = rating or relevant or corrected_response
        if written:
            errors["pick"] = ["Pick a reviewer's feedback or write the final label, not both."]
        elif isinstance(pick, bool) or not isinstance(pick, int) or case.review(pick) is None:
            numbers = ", ".join(str(r.number) for r in case.reviews) or "none"
            errors["pick"] = [f"No reviewer {pick!r} on this item (reviewers: {numbers})."]
        else:
            chosen = case.review(pick)
            rating = chosen.rating
            cleaned_relevant = {str(p): v for p, v in sorted(chosen.relevance().items())}
            correction = chosen.corrected_response or ""
    if pick is None:
        if rating not in RATINGS:
            errors["rating"] = ["Give the final rating: positive or negative."]
        cleaned_relevant = _relevance(errors, case, relevant)
        correction = _text(errors, "corrected_response", corrected_response, TEXT_LIMIT_BYTES)
    if errors:
        raise ValidationError(errors)

    now = timezone.now()
    request = case.request
    adjudication = Adjudication.objects.select_for_update().filter(request=request).first()
    before = _audited(adjudication, case)
    if adjudication is None:
        adjudication = Adjudication(app=queue.app, request=request, created_at=now, revision=0)
    adjudication.queue = queue
    adjudication.rating = rating
    adjudication.relevant = cleaned_relevant
    adjudication.corrected_response = correction
    adjudication.chosen_reviewer_id = chosen.reviewer_id if chosen else None
    adjudication.note = note
    adjudication.adjudicator = adjudicator
    adjudication.updated_at = now
    adjudication.revision += 1
    traced = bool(request.mlflow_trace_id)
    adjudication.mlflow_status = MlflowStatus.PENDING if traced else MlflowStatus.NONE
    if adjudication.pk is None:
        adjudication.save(force_insert=True)
    else:
        # Named fields: the write-back's own columns are its worker's.
        adjudication.save(update_fields=[*CHANGED, "mlflow_status"])
    after = _audited(adjudication, case)
    QueueEvent.objects.create(
        queue=queue,
        actor=adjudicator,
        at=now,
        action="adjudicated" if before["rating"] is None else "adjudication_changed",
        changes={
            "request_id": str(request.request_id),
            "fields": {k: [before[k], after[k]] for k in AUDITED if before[k] != after[k]},
        },
    )
    if traced:
        transaction.on_commit(lambda: _enqueue_mlflow(adjudication.pk))
    return adjudication


def _enqueue_mlflow(adjudication_id: int) -> None:
    from .tasks import write_to_mlflow

    send(write_to_mlflow, (adjudication_id,))


def history(queue: ReviewQueue, case: Case) -> list[QueueEvent]:
    """The audit rows of the item's adjudication in this queue, newest first."""
    return list(
        queue.events.filter(
            action__in=("adjudicated", "adjudication_changed"),
            changes__request_id=str(case.request.request_id),
        ).select_related("actor")
    )
