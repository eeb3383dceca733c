"""Building review queues, and who may review in them.

Every function takes keyword-only arguments and either does all it was asked or raises
`django.core.exceptions.ValidationError` naming the field that is wrong (the API turns that
into a 400 with the same body), leaving nothing half-done. Handing items to reviewers is in
claims.py, progress and agreement in progress.py.
"""

import bisect
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog import rules as app_rules
from reviewapp.catalog.models import App, Level, ReviewInstructions
from reviewapp.feedback.models import Assessment
from reviewapp.lib.limits import MaxChars, MaxItems, check, is_whole_number, refuse_broken, whole_number
from reviewapp.requestlog.models import Request

from .models import QueueEvent, QueueItem, Reservation, ReviewQueue

# Reviewers per item; claiming an item tries each slot, so the bound also bounds the work.
MAX_OVERLAP = 100
_ID_CHUNK = 1000
# The rules of a queue's fields, run here and declared by the API's serializer (reviewapp.lib.limits).
NAME = [MaxChars(ReviewQueue._meta.get_field("name").max_length)]
INSTRUCTIONS = app_rules.INSTRUCTIONS
OVERLAP = whole_number(1, MAX_OVERLAP, f"overlap must be a whole number from 1 to {MAX_OVERLAP}")
MAX_REQUEST_IDS = 10_000
REQUEST_IDS = [MaxItems(MAX_REQUEST_IDS, "at most {limit} request ids at once ({given} given)")]
GOLD_RATE = [
    MinValueValidator(0, "gold rate must be from 0 to 0.5"),
    MaxValueValidator(0.5, "gold rate must be from 0 to 0.5"),
]
GOLD_ACCURACY_THRESHOLD = [
    MinValueValidator(0, "gold accuracy threshold must be from 0 to 1, or empty"),
    MaxValueValidator(1, "gold accuracy threshold must be from 0 to 1, or empty"),
]
# What update_queue may change; "reviewers" replaces the set, add_/remove_reviewers change it.
EDITABLE = (
    "name",
    "instructions",
    "overlap",
    "assignment",
    "blind",
    "due_at",
    "closed",
    "gold_rate",
    "gold_accuracy_threshold",
    "reviewers",
    "add_reviewers",
    "remove_reviewers",
    "adjudicators",
)


@dataclass
class AddResult:
    """What `add_items` did: ids added, and ids that were already in the queue (a no-op)."""

    added: list[uuid.UUID] = field(default_factory=list)
    already_in_queue: list[uuid.UUID] = field(default_factory=list)


def _parse_request_ids(request_ids: Iterable) -> list[uuid.UUID]:
    parsed: list[uuid.UUID] = []
    bad: list[str] = []
    seen: set[uuid.UUID] = set()
    for raw in request_ids:
        try:
            value = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw).strip())
        except (ValueError, AttributeError, TypeError):
            bad.append(str(raw))
            continue
        if value not in seen:
            seen.add(value)
            parsed.append(value)
    if bad:
        raise ValidationError({"request_ids": [f"not a request id: {', '.join(bad[:20])}"]})
    return parsed


def _check_requests_belong(app: App, ids: list[uuid.UUID]) -> None:
    found: set[uuid.UUID] = set()
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        found.update(
            Request.objects.filter(app=app, request_id__in=chunk).values_list("request_id", flat=True)
        )
    missing = [str(i) for i in ids if i not in found]
    if missing:
        shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        raise ValidationError(
            {"request_ids": [f"no such request in app {app.slug!r}: {shown}"]},
        )


@transaction.atomic
def add_items(
    *, queue: ReviewQueue, request_ids: Iterable, actor: User | None = None, paired: bool = False
) -> AddResult:
    """Add requests of the queue's app to the queue, in the order given.

    A request already in the queue is left where it is and reported in `already_in_queue`.
    Ids that are malformed, unknown or of another app reject the whole call, and so does a pairwise
    queue unless the caller brings each request's pair (`paired`, comparisons.services).
    """
    if queue.mode == ReviewQueue.Mode.PAIRWISE and not paired:
        raise ValidationError(
            {
                "request_ids": [
                    f"“{queue.name}” compares two responses per item: its items are made with their pairs "
                    "(two versions or imported pairs), not added by request id"
                ]
            }
        )
    request_ids = list(request_ids)
    refuse_broken("request_ids", request_ids, REQUEST_IDS)
    ids = _parse_request_ids(request_ids)
    _check_requests_belong(queue.app, ids)
    # Lock the queue row so concurrent adds get consecutive positions (round-robin uses them).
    ReviewQueue.objects.select_for_update().filter(pk=queue.pk).first()
    present: set[uuid.UUID] = set()
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        present.update(queue.items.filter(request_id__in=chunk).values_list("request_id", flat=True))
    result = AddResult()
    last = queue.items.aggregate(m=Max("position"))["m"]
    next_position = 0 if last is None else last + 1
    now = timezone.now()
    new_items = []
    for request_id in ids:
        if request_id in present:
            result.already_in_queue.append(request_id)
            continue
        new_items.append(QueueItem(queue=queue, request_id=request_id, position=next_position, added_at=now))
        next_position += 1
        result.added.append(request_id)
    QueueItem.objects.bulk_create(new_items, batch_size=_ID_CHUNK)
    if result.added:
        _log(queue, actor, "items_added", _ids_record(result.added), at=now)
    return result


@dataclass
class RemoveResult:
    """What `remove_items` did: requests taken out, their submitted reviews, ids not in the queue."""

    removed: list[uuid.UUID] = field(default_factory=list)
    reviews: int = 0
    not_in_queue: list[uuid.UUID] = field(default_factory=list)


@transaction.atomic
def remove_items(*, queue: ReviewQueue, request_ids: Iterable, actor: User | None) -> RemoveResult:
    """Take requests out of the queue, with their slots and drafts.

    The reviewers' feedback belongs to the request, not the queue: the assessment log keeps it.
    Ids not in the queue are reported, not refused; malformed ones reject the call.
    """
    request_ids = list(request_ids)
    refuse_broken("request_ids", request_ids, REQUEST_IDS)
    ids = _parse_request_ids(request_ids)
    ReviewQueue.objects.select_for_update().filter(pk=queue.pk).first()
    result = RemoveResult()
    for start in range(0, len(ids), _ID_CHUNK):
        items = queue.items.filter(request_id__in=ids[start : start + _ID_CHUNK])
        result.removed += items.values_list("request_id", flat=True)
        result.reviews += Reservation.objects.filter(item__in=items).done().count()
        items.delete()
    found = set(result.removed)
    result.removed = [i for i in ids if i in found]
    result.not_in_queue = [i for i in ids if i not in found]
    if result.removed:
        _log(queue, actor, "items_removed", {**_ids_record(result.removed), "reviews": result.reviews})
    return result


def _ids_record(ids: list[uuid.UUID]) -> dict:
    # The audit row names up to a thousand requests; the count is always whole.
    return {"request_ids": [str(i) for i in ids[:_ID_CHUNK]], "count": len(ids)}


def _log(queue: ReviewQueue, actor: User | None, action: str, changes: dict, at=None) -> QueueEvent:
    return QueueEvent.objects.create(
        queue=queue, actor=actor, action=action, changes=changes, at=at or timezone.now()
    )


def _check_reviewers(app: App, reviewers: list[User], field_name: str = "reviewers") -> None:
    lacking = [user.email for user in reviewers if app.level_for(user) < Level.CAN_QUERY]
    if lacking:
        who = "reviewers" if field_name == "reviewers" else "adjudicators"
        raise ValidationError(
            {
                field_name: [
                    f"{', '.join(sorted(lacking))} cannot be {who[:-1]}s here: {who} need "
                    f"“{Level.CAN_QUERY.words}” on the app"
                ]
            }
        )


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _clean_settings(*, app: App, values: dict, queue: ReviewQueue | None, errors: dict) -> dict:
    """The settings in `values` checked and normalised; what breaks a rule goes into `errors`.

    The one place a queue's settings are checked, for a new queue and for an edit alike.
    """
    cleaned: dict = {}
    if "name" in values:
        name = values["name"].strip() if isinstance(values["name"], str) else ""
        if not name:
            errors["name"] = ["a queue needs a name"]
        else:
            check(errors, "name", name, NAME)
        taken = ReviewQueue.objects.filter(app=app, name=name)
        if queue is not None:
            taken = taken.exclude(pk=queue.pk)
        if "name" not in errors and taken.exists():
            errors["name"] = [
                ValidationError(f"this app already has a queue named {name!r}", code="conflict")
            ]
        cleaned["name"] = name
    if "instructions" in values:
        instructions = values["instructions"] or ""
        if not isinstance(instructions, str):
            errors["instructions"] = ["instructions are text"]
        else:
            check(errors, "instructions", instructions, INSTRUCTIONS)
        cleaned["instructions"] = instructions
    if "overlap" in values:
        overlap = values["overlap"]
        if is_whole_number(overlap):
            check(errors, "overlap", overlap, OVERLAP)
        else:
            errors["overlap"] = [OVERLAP[0].message]
        cleaned["overlap"] = overlap
    if "assignment" in values:
        if values["assignment"] not in ReviewQueue.Assignment.values:
            errors["assignment"] = [f"one of {', '.join(ReviewQueue.Assignment.values)}"]
        cleaned["assignment"] = values["assignment"]
    for flag in ("blind", "closed"):
        if flag in values:
            if not isinstance(values[flag], bool):
                errors[flag] = [f"{flag} is true or false"]
            cleaned[flag] = values[flag]
    if "due_at" in values:
        due_at = values["due_at"]
        if due_at is not None and not isinstance(due_at, datetime):
            errors["due_at"] = ["a date and time, or empty"]
        elif due_at is not None and timezone.is_naive(due_at):
            due_at = timezone.make_aware(due_at)
        cleaned["due_at"] = due_at
    if "gold_rate" in values:
        rate = values["gold_rate"]
        if _number(rate):
            check(errors, "gold_rate", rate, GOLD_RATE)
        else:
            errors["gold_rate"] = [GOLD_RATE[0].message]
        cleaned["gold_rate"] = float(rate) if _number(rate) else rate
    if "gold_accuracy_threshold" in values:
        threshold = values["gold_accuracy_threshold"]
        if threshold is not None and not _number(threshold):
            errors["gold_accuracy_threshold"] = [GOLD_ACCURACY_THRESHOLD[0].message]
        elif threshold is not None:
            check(errors, "gold_accuracy_threshold", threshold, GOLD_ACCURACY_THRESHOLD)
            threshold = float(threshold)
        cleaned["gold_accuracy_threshold"] = threshold
    return cleaned


def _check_enough_reviewers(errors: dict, *, assignment: str, overlap, reviewers: int) -> None:
    if "assignment" in errors or "overlap" in errors or "reviewers" in errors:
        return
    if assignment != ReviewQueue.Assignment.OPEN and reviewers < overlap:
        errors["reviewers"] = [
            f"{assignment} assignment with overlap {overlap} needs at least {overlap} named reviewers"
        ]


def _emails(users: Iterable[User]) -> list[str]:
    return sorted(user.email for user in users)


def _recorded(value):
    """A setting as the audit log keeps it (JSON)."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@transaction.atomic
def create_queue(
    *,
    app: App,
    name: str,
    created_by: User | None,
    instructions: str = "",
    overlap: int = 1,
    assignment: str = ReviewQueue.Assignment.OPEN,
    blind: bool = False,
    reviewers: Iterable[User] = (),
    request_ids: Iterable = (),
    due_at: datetime | None = None,
    gold_rate: float = 0.0,
    gold_accuracy_threshold: float | None = None,
    adjudicators: Iterable[User] = (),
) -> tuple[ReviewQueue, AddResult]:
    """A new queue on `app`, with its reviewers and (optionally) its first items."""
    reviewers = list(dict.fromkeys(reviewers))
    adjudicators = list(dict.fromkeys(adjudicators))
    errors: dict[str, list] = {}
    settings = _clean_settings(
        app=app,
        values={
            "name": name,
            "instructions": instructions,
            "overlap": overlap,
            "assignment": assignment,
            "blind": blind,
            "due_at": due_at,
            "gold_rate": gold_rate,
            "gold_accuracy_threshold": gold_accuracy_threshold,
        },
        queue=None,
        errors=errors,
    )
    _check_enough_reviewers(errors, assignment=assignment, overlap=overlap, reviewers=len(reviewers))
    if errors:
        raise ValidationError(errors)
    _check_reviewers(app, reviewers)
    _check_reviewers(app, adjudicators, "adjudicators")
    queue = ReviewQueue.objects.create(app=app, created_by=created_by, **settings)
    queue.reviewers.set(reviewers)
    queue.adjudicators.set(adjudicators)
    made = {key: [None, _recorded(value)] for key, value in settings.items()}
    made["reviewers"] = [None, _emails(reviewers)]
    made["adjudicators"] = [None, _emails(adjudicators)]
    _log(queue, created_by, "created", made, at=queue.created_at)
    result = add_items(queue=queue, request_ids=request_ids, actor=created_by)
    return queue, result


@transaction.atomic
def add_reviewers(*, queue: ReviewQueue, reviewers: Iterable[User], actor: User | None = None) -> None:
    update_queue(queue=queue, actor=actor, changes={"add_reviewers": list(reviewers)})


@transaction.atomic
def update_queue(*, queue: ReviewQueue, actor: User | None, changes: dict, now=None) -> dict:
    """Change a queue's settings at any time; returns {field: [before, after]} of what changed.

    Nothing submitted is ever lost: a removed reviewer's done reviews stay (only their unfinished
    reservations are released), and lowering the overlap keeps every submitted review (an item
    with more than enough is simply complete). Closing stops the queue handing anything out.
    Every change is one QueueEvent row; a call that changes nothing writes none.
    """
    now = now or timezone.now()
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ValidationError({name: ["not a setting of a queue that can be changed"] for name in unknown})
    ReviewQueue.objects.select_for_update().filter(pk=queue.pk).first()
    queue.refresh_from_db()
    app = queue.app
    errors: dict[str, list] = {}
    cleaned = _clean_settings(app=app, values=changes, queue=queue, errors=errors)

    before_reviewers = list(queue.reviewers.all())
    reviewers = list(before_reviewers)
    if "reviewers" in changes:
        reviewers = list(dict.fromkeys(changes["reviewers"]))
    reviewers += [u for u in dict.fromkeys(changes.get("add_reviewers", ())) if u not in reviewers]
    removing = set(changes.get("remove_reviewers", ()))
    reviewers = [u for u in reviewers if u not in removing]
    before_adjudicators = list(queue.adjudicators.all())
    adjudicators = list(dict.fromkeys(changes.get("adjudicators", before_adjudicators)))

    _check_enough_reviewers(
        errors,
        assignment=cleaned.get("assignment", queue.assignment),
        overlap=cleaned.get("overlap", queue.overlap),
        reviewers=len(reviewers),
    )
    if errors:
        raise ValidationError(errors)
    # Only those added must be able to review now; one who lost the right may stay on the list.
    _check_reviewers(app, [u for u in reviewers if u not in before_reviewers])
    _check_reviewers(app, [u for u in adjudicators if u not in before_adjudicators], "adjudicators")

    if "closed" in cleaned:
        closed = cleaned.pop("closed")
        if closed and queue.closed_at is None:
            cleaned["closed_at"] = now
        elif not closed:
            cleaned["closed_at"] = None
    diff: dict = {}
    for name, value in cleaned.items():
        before = getattr(queue, name)
        if before != value:
            diff[name] = [_recorded(before), _recorded(value)]
            setattr(queue, name, value)
    lowered = "overlap" in diff and diff["overlap"][1] < diff["overlap"][0]
    if diff:
        queue.save(update_fields=list(diff))
    if set(reviewers) != set(before_reviewers):
        diff["reviewers"] = [_emails(before_reviewers), _emails(reviewers)]
        queue.reviewers.set(reviewers)
        gone = [u for u in before_reviewers if u not in reviewers]
        # Their submitted reviews stay; what they held unfinished goes back to the others.
        Reservation.objects.filter(item__queue=queue, reviewer__in=gone).unfinished().delete()
    if set(adjudicators) != set(before_adjudicators):
        diff["adjudicators"] = [_emails(before_adjudicators), _emails(adjudicators)]
        queue.adjudicators.set(adjudicators)
    if lowered:
        _release_beyond_overlap(queue, now)
    if diff:
        action = "edited"
        if set(diff) == {"closed_at"}:
            action = "closed" if queue.closed_at else "reopened"
        _log(queue, actor, action, diff, at=now)
    return diff


def _release_beyond_overlap(queue: ReviewQueue, now) -> None:
    """After the overlap is lowered: each item keeps all its submitted reviews, and as many of its
    reservations in progress as still fit, the oldest first; the rest are released."""
    live = Q(reservations__done_at__isnull=False) | Q(reservations__expires_at__gt=now)
    crowded = (
        queue.items.annotate(taken=Count("reservations", filter=live))
        .filter(taken__gt=queue.overlap)
        .values_list("pk", flat=True)
    )
    release = []
    for item_id in crowded:
        held = Reservation.objects.filter(item_id=item_id).live(now).order_by("done_at", "claimed_at", "id")
        done = [r for r in held if r.done_at is not None]
        waiting = sorted((r for r in held if r.done_at is None), key=lambda r: (r.claimed_at, r.pk))
        room = max(queue.overlap - len(done), 0)
        release += [r.pk for r in waiting[room:]]
    Reservation.objects.filter(pk__in=release).delete()


# --- instruction changes ----------------------------------------------------------------------


def _label_versions(queue: ReviewQueue) -> list[tuple[int, int | None]]:
    """(reservation id, instructions version) of each submitted review in the queue.

    A label counts under the newer of two versions: the one its reviewer's effective feedback was
    written under, and the one in force when they submitted it (a reviewer who confirms an
    unchanged label under new instructions writes no new row, yet labelled under them).
    """
    done = list(
        Reservation.objects.filter(item__queue=queue)
        .done()
        .values_list("pk", "item__request_id", "reviewer_id", "done_at")
    )
    if not done:
        return []
    written: dict = {}
    for start in range(0, len(done), _ID_CHUNK):
        chunk = done[start : start + _ID_CHUNK]
        rows = (
            Assessment.objects.filter(
                request_id__in={r[1] for r in chunk}, reviewer_id__in={r[2] for r in chunk}
            )
            .latest_per_reviewer()
            .values_list("request_id", "reviewer_id", "instructions_version")
        )
        written.update({(request_id, reviewer_id): v for request_id, reviewer_id, v in rows})
    published = list(
        ReviewInstructions.objects.filter(app_id=queue.app_id)
        .order_by("created_at", "version")
        .values_list("created_at", "version")
    )
    times = [at for at, _ in published]
    labels = []
    for pk, request_id, reviewer_id, done_at in done:
        index = bisect.bisect_right(times, done_at)
        in_force = published[index - 1][1] if index else None
        versions = [v for v in (written.get((request_id, reviewer_id)), in_force) if v is not None]
        labels.append((pk, max(versions) if versions else None))
    return labels


@dataclass
class VersionCount:
    version: int | None
    labels: int
    current: bool


def labels_by_instructions(*, queue: ReviewQueue) -> list[VersionCount]:
    """How many of the queue's submitted labels were made under each instructions version,
    the newest version first (None: before the app had any instructions)."""
    current = queue.app.current_instructions()
    counts: dict = {}
    for _pk, version in _label_versions(queue):
        counts[version] = counts.get(version, 0) + 1
    ordered = sorted(counts, key=lambda v: -1 if v is None else v, reverse=True)
    return [
        VersionCount(version=v, labels=counts[v], current=current is not None and v == current.version)
        for v in ordered
    ]


@transaction.atomic
def requeue_labelled_under(*, queue: ReviewQueue, version: int, actor: User | None) -> int:
    """Give the items labelled under an earlier instructions version fresh slots, so that reviewers
    label them again under the current instructions. Returns how many labels were re-queued.

    The slots of those labels are released; the feedback itself stays in the assessment log, and
    the audit log names every released review.
    """
    current = queue.app.current_instructions()
    if not is_whole_number(version) or current is None or not 1 <= version < current.version:
        latest = f" (the current version is {current.version})" if current else ""
        raise ValidationError({"version": [f"not an earlier instructions version of this app{latest}"]})
    ReviewQueue.objects.select_for_update().filter(pk=queue.pk).first()
    ids = [pk for pk, v in _label_versions(queue) if v == version]
    released = list(
        Reservation.objects.filter(pk__in=ids).values_list("item__request_id", "reviewer__email", "done_at")
    )
    Reservation.objects.filter(pk__in=ids).delete()
    if released:
        reviews = [
            {"request_id": str(request_id), "reviewer": email, "done_at": done_at.isoformat()}
            for request_id, email, done_at in released[:_ID_CHUNK]
        ]
        _log(
            queue,
            actor,
            "requeued",
            {"version": version, "current": current.version, "count": len(released), "reviews": reviews},
        )
    return len(released)


# --- who may review, and what ------------------------------------------------------------


def may_review(*, queue: ReviewQueue, user: User) -> bool:
    """Named and round-robin queues: the named reviewers; open queues: anyone with CAN_QUERY.
    Nobody reviews in a closed queue."""
    return is_reviewer(queue=queue, user=user) and queue.closed_at is None


def is_reviewer(*, queue: ReviewQueue, user: User) -> bool:
    """Whether the queue, open or closed, is one this user reviews in (a closed one says so)."""
    return queue.app.level_for(user) >= Level.CAN_QUERY and queue.is_open_to(user)


def queues_for_reviewer(user: User, *, closed: bool = False) -> list[ReviewQueue]:
    """The queues `user` may review now, newest first; with `closed`, also the closed ones they
    review in (to show them as closed)."""
    if not user.is_authenticated:
        return []
    apps = App.objects.visible_to(user).filter(level__gte=Level.CAN_QUERY)
    app_ids = list(apps.values_list("id", flat=True))
    queues = ReviewQueue.objects.filter(app_id__in=app_ids)
    if not closed:
        queues = queues.filter(closed_at__isnull=True)
    return list(queues.open_to(user).select_related("app").order_by("-created_at", "-id"))
