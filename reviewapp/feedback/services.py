"""Recording feedback: validation, the append-only effective-row rule, idempotency."""

import json
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, JSONField, OuterRef, Subquery
from django.db.models.functions import JSONObject
from django.utils import timezone

from reviewapp.lib.compiled import CompiledInsert
from reviewapp.lib.parsers import problem_in
from reviewapp.monitoring import metrics
from reviewapp.requestlog import passages as passage_rules
from reviewapp.requestlog.models import Request

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


# Changes by one reviewer to one request racing each other: each lost race merges again.
MERGE_ATTEMPTS = 10
# Every feedback write ends in this INSERT: compiled once per process (lib/compiled.py).
ASSESSMENT_INSERT = CompiledInsert(Assessment)
FACTS = ("reviewer_latest", "reviewer_revision", "reviewer_has_drafts", "instructions_in_force")


def recording_facts(reviewer, assessment_id: uuid.UUID | None = None) -> dict:
    """Annotations of a request with what recording `reviewer`'s feedback on it reads: their latest
    row (as JSON: its state and identity), their highest revision, whether they have drafts on it,
    the version of the app's reviewer instructions in force and, given an `assessment_id`, the key
    of the row stored under it already (any request's: a retry is answered without an INSERT). One
    statement with the request."""
    from reviewapp.catalog.models import ReviewInstructions

    mine = Assessment.objects.filter(request=OuterRef("pk"), reviewer=reviewer)
    latest = JSONObject(
        id="id",
        assessment_id="assessment_id",
        created_at="created_at",
        queue_id="queue_id",
        **{f: f for f in FIELDS},
    )
    sent_before = {}
    if assessment_id is not None:
        sent_before["sent_before"] = Subquery(
            Assessment.objects.filter(assessment_id=assessment_id).values("pk")[:1]
        )
    return {
        **sent_before,
        "reviewer_latest": Subquery(
            mine.order_by("-created_at", "-id").values(json=latest)[:1], output_field=JSONField()
        ),
        "reviewer_revision": Subquery(
            mine.filter(revision__isnull=False).order_by("-revision").values("revision")[:1]
        ),
        "reviewer_has_drafts": Exists(
            FeedbackDraft.objects.filter(request=OuterRef("pk"), reviewer=reviewer)
        ),
        "instructions_in_force": Subquery(
            ReviewInstructions.objects.filter(app=OuterRef("app_id"))
            .order_by("-version")
            .values("version")[:1]
        ),
    }


@dataclass
class _Facts:
    latest: dict | None  # the effective row's state, id, assessment_id, created_at and queue_id
    revision: int  # the reviewer's highest revision on the request, 0 for none
    has_drafts: bool
    instructions: int | None
    sent_before: int | None  # the key of the row already stored under the call's assessment_id


def _facts(request: Request, reviewer, assessment_id=None, *, fresh: bool = False) -> _Facts | None:
    """What recording reads, from the request's annotations when visible_request(..., to_record=True)
    read them for this reviewer and assessment_id, else by one query. None when the request is gone."""
    if not fresh and getattr(request, "facts_of", None) == (reviewer.pk, assessment_id):
        values = {name: getattr(request, name) for name in FACTS}
        values["sent_before"] = getattr(request, "sent_before", None)
    else:
        facts = recording_facts(reviewer, assessment_id)
        values = Request.objects.filter(pk=request.pk).values(**facts).first()
        if values is None:
            return None
    return _Facts(
        latest=_latest(values["reviewer_latest"]),
        revision=values["reviewer_revision"] or 0,
        has_drafts=bool(values["reviewer_has_drafts"]),
        instructions=values["instructions_in_force"],
        sent_before=values.get("sent_before"),
    )


def _latest(value) -> dict | None:
    """The latest row as recording_facts reads it, in the types of the model's fields (SQLite's
    JSON_OBJECT gives JSON columns as text and times without a zone)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = json.loads(value)
    for name in ("reasons", "retrieval_assessments", "missing_sources"):
        if isinstance(value[name], str):
            value[name] = json.loads(value[name])
    value["assessment_id"] = uuid.UUID(str(value["assessment_id"]))
    created = datetime.fromisoformat(value["created_at"])
    value["created_at"] = created if created.tzinfo else created.replace(tzinfo=UTC)
    return value


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
    `.created` says whether a row was written. The row is the write's one statement (with its MLflow
    write-back row for a traced request): no lock is held while merging, the row's revision is
    unique instead, so of two changes merged into the same base one fails and merges again; and the
    request's summary is summed later (summary.catch_up, before anything reads it).
    """
    if queue is not None and queue.app_id != request.app_id:
        raise ValidationError({"queue": "This queue belongs to another app."})
    cleaned = clean_changes(request=request, changes=changes)
    facts = _facts(request, reviewer, assessment_id)
    for _ in range(MERGE_ATTEMPTS):
        if facts is None:
            raise ValidationError({"request_id": "This request no longer exists."})
        latest = facts.latest
        if facts.sent_before is not None:
            # A retry (of the latest call or an older one): answered with the row stored then.
            stored = _same_origin(Assessment.objects.get(pk=facts.sent_before), request, reviewer, latest)
            # Read in one statement with the latest row: effective exactly when it is that row.
            stored.is_effective = latest is not None and stored.pk == latest["id"]
            return Recorded(stored, created=False)
        current = _state(latest)
        merged = _merge(current, cleaned, request)
        if merged == current and (latest is None or queue is None or queue.pk == latest["queue_id"]):
            _drop_drafts(request, reviewer, cleaned, facts)
            stored = Assessment.objects.filter(assessment_id=assessment_id).first() if assessment_id else None
            if stored is not None:
                return Recorded(_same_origin(stored, request, reviewer, latest), created=False)
            # Nothing changes: no row (and None when there is no feedback at all yet).
            return Recorded(_stored_latest(latest, request) if latest else None, created=False)
        row = Assessment(
            assessment_id=assessment_id or uuid.uuid4(),
            request=request,
            app=request.app,
            reviewer=reviewer,
            source_id=reviewer.email,
            created_at=_after(latest["created_at"] if latest else None),
            app_version=request.app_version or request.app.version,
            instructions_version=facts.instructions,
            queue=queue,
            revision=facts.revision + 1,
            awaits_summary=True,
            **merged,
        )
        try:
            _insert(row, cleaned, facts)
        except IntegrityError:
            if assessment_id is not None and (
                stored := Assessment.objects.filter(assessment_id=assessment_id).first()
            ):
                # The same assessment_id, stored since the reads by a call racing this one.
                return Recorded(_same_origin(stored, request, reviewer, facts.latest), created=False)
            facts = _facts(request, reviewer, assessment_id, fresh=True)  # another change landed first
            continue
        row.is_effective = True  # the newest row; saves the serializer a query
        return Recorded(row, created=True)
    raise ValidationError({"detail": "Too many changes to this feedback at once; send it again."})


def _insert(row: Assessment, cleaned: dict, facts: _Facts) -> None:
    """Store `row` with what goes with it, in one transaction (IntegrityError: nothing is stored)."""
    request, previous = row.request, facts.latest
    # A row with nothing going with it is its INSERT alone, committed on its own: BEGIN and COMMIT
    # would be two more round trips. Inside a caller's transaction it keeps its savepoint.
    alone = not (facts.has_drafts or request.mlflow_trace_id or transaction.get_connection().in_atomic_block)
    with nullcontext() if alone else transaction.atomic():
        ASSESSMENT_INSERT.insert(row)
        _drop_drafts(request, row.reviewer, cleaned, facts)
        if request.mlflow_trace_id:
            sync = MlflowSync.objects.create(assessment=row)
            transaction.on_commit(lambda: _enqueue_sync(sync.pk))
        # A rating counts when it is given or changed: an edit of the comment, or a queue's
        # re-submission of the same feedback, gives no new rating.
        if previous is None or row.rating != previous["rating"]:
            transaction.on_commit(lambda: metrics.count_feedback(app=request.app.slug, rating=row.rating))


def _state(latest: dict | None) -> dict:
    if latest is None:
        return {
            "rating": "",
            "reasons": [],
            "other_reason": "",
            "comment": "",
            "corrected_response": None,
            "retrieval_assessments": [],
            "missing_sources": [],
        }
    return {name: latest[name] for name in FIELDS}


def _drop_drafts(request: Request, reviewer, cleaned: dict, facts: _Facts) -> None:
    """Text saved by any path (panel, queue submit, API) makes the reviewer's draft of it obsolete."""
    if not facts.has_drafts:
        return
    fields = [name for name in ("comment", "other_reason", "corrected_response") if name in cleaned]
    fields += [f"chunk_comment_{item['position']}" for item in cleaned.get("retrieval_assessments", [])]
    if fields:
        FeedbackDraft.objects.filter(request=request, reviewer=reviewer, field__in=fields).delete()


def _same_origin(stored: Assessment, request: Request, reviewer, latest: dict | None) -> Assessment:
    if stored.request_id != request.pk or stored.reviewer_id != reviewer.pk:
        raise ValidationError({"assessment_id": "This id is already used by another assessment."})
    return _as_answered(stored, request, latest)


def _stored_latest(latest: dict, request: Request) -> Assessment:
    return _as_answered(Assessment.objects.get(pk=latest["id"]), request, latest)


def _as_answered(stored: Assessment, request: Request, latest: dict | None) -> Assessment:
    """A stored row of this request, with what the call already knows for its answer: the request,
    its app, and whether it is the reviewer's latest row (a replayed call then takes one query)."""
    stored.request = request
    if stored.app_id == request.app_id:
        stored.app = request.app
    if latest is not None and stored.pk == latest["id"]:
        stored.is_effective = True
    return stored


def _after(previous):
    """Now, but never before `previous`, the time of the row it supersedes (clock steps must not
    reorder history)."""
    now = timezone.now()
    if previous is not None and now <= previous:
        return previous + timezone.timedelta(microseconds=1)
    return now


def _enqueue_sync(sync_id: int) -> None:
    from reviewapp.jobs.sending import send

    from .tasks import sync_to_mlflow

    # One short try: with the broker down the reviewer must not wait; the row stays pending and
    # the periodic sweep queues it.
    send(sync_to_mlflow, (sync_id,))
