"""Building review queues, and who may review in them.

Every function takes keyword-only arguments and either does all it was asked or raises
`django.core.exceptions.ValidationError` naming the field that is wrong (the API turns that
into a 400 with the same body), leaving nothing half-done. Handing items to reviewers is in
claims.py, progress and agreement in progress.py.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog import rules as app_rules
from reviewapp.catalog.models import App, Level
from reviewapp.lib.limits import MaxChars, MaxItems, check, is_whole_number, refuse_broken, whole_number
from reviewapp.requestlog.models import Request

from .models import QueueItem, ReviewQueue

# Reviewers per item; claiming an item tries each slot, so the bound also bounds the work.
MAX_OVERLAP = 100
_ID_CHUNK = 1000
# The rules of a queue's fields, run here and declared by the API's serializer (reviewapp.lib.limits).
NAME = [MaxChars(ReviewQueue._meta.get_field("name").max_length)]
INSTRUCTIONS = app_rules.INSTRUCTIONS
OVERLAP = whole_number(1, MAX_OVERLAP, f"overlap must be a whole number from 1 to {MAX_OVERLAP}")
MAX_REQUEST_IDS = 10_000
REQUEST_IDS = [MaxItems(MAX_REQUEST_IDS, "at most {limit} request ids at once ({given} given)")]


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
def add_items(*, queue: ReviewQueue, request_ids: Iterable) -> AddResult:
    """Add requests of the queue's app to the queue, in the order given.

    A request already in the queue is left where it is and reported in `already_in_queue`.
    Ids that are malformed, unknown or of another app reject the whole call.
    """
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
    return result


def _check_reviewers(app: App, reviewers: list[User]) -> None:
    lacking = [user.email for user in reviewers if app.level_for(user) < Level.CAN_QUERY]
    if lacking:
        raise ValidationError(
            {
                "reviewers": [
                    f"{', '.join(sorted(lacking))} cannot review: reviewers need “{Level.CAN_QUERY.words}” on the app"
                ]
            }
        )


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
) -> tuple[ReviewQueue, AddResult]:
    """A new queue on `app`, with its reviewers and (optionally) its first items."""
    reviewers = list(dict.fromkeys(reviewers))
    name = (name or "").strip()
    instructions = instructions or ""
    errors: dict[str, list] = {}
    if not name:
        errors["name"] = ["a queue needs a name"]
    else:
        check(errors, "name", name, NAME)
    if "name" not in errors and ReviewQueue.objects.filter(app=app, name=name).exists():
        errors["name"] = [ValidationError(f"this app already has a queue named {name!r}", code="conflict")]
    check(errors, "instructions", instructions, INSTRUCTIONS)
    if is_whole_number(overlap):
        check(errors, "overlap", overlap, OVERLAP)
    else:
        errors["overlap"] = [OVERLAP[0].message]
    if assignment not in ReviewQueue.Assignment.values:
        errors["assignment"] = [f"one of {', '.join(ReviewQueue.Assignment.values)}"]
    elif assignment != ReviewQueue.Assignment.OPEN and "overlap" not in errors and len(reviewers) < overlap:
        errors["reviewers"] = [
            f"{assignment} assignment with overlap {overlap} needs at least {overlap} named reviewers"
        ]
    if errors:
        raise ValidationError(errors)
    _check_reviewers(app, reviewers)
    queue = ReviewQueue.objects.create(
        app=app,
        name=name,
        instructions=instructions,
        overlap=overlap,
        assignment=assignment,
        blind=blind,
        created_by=created_by,
    )
    queue.reviewers.set(reviewers)
    result = add_items(queue=queue, request_ids=request_ids)
    return queue, result


@transaction.atomic
def add_reviewers(*, queue: ReviewQueue, reviewers: Iterable[User]) -> None:
    reviewers = list(reviewers)
    _check_reviewers(queue.app, reviewers)
    queue.reviewers.add(*reviewers)


# --- who may review, and what ------------------------------------------------------------


def may_review(*, queue: ReviewQueue, user: User) -> bool:
    """Named and round-robin queues: the named reviewers; open queues: anyone with CAN_QUERY."""
    return queue.app.level_for(user) >= Level.CAN_QUERY and queue.is_open_to(user)


def queues_for_reviewer(user: User) -> list[ReviewQueue]:
    """The queues `user` may review now, newest first."""
    if not user.is_authenticated:
        return []
    apps = App.objects.visible_to(user).filter(level__gte=Level.CAN_QUERY)
    app_ids = list(apps.values_list("id", flat=True))
    return list(
        ReviewQueue.objects.filter(app_id__in=app_ids)
        .open_to(user)
        .select_related("app")
        .order_by("-created_at", "-id")
    )
