"""Filling a review queue by rules ("smart sampling"): which requests the rules match, which of
those to leave out, and a seeded random sample of the rest, drawn in the database.

The rules combine (AND). Every selection is a random sample of what matches: each request draws
md5(seed:request id), and the lowest draws are taken, so a seed gives the same rows every time (a
preview and the fill after it agree, and tests are exact). With several versions chosen the
target is split evenly over them; a version with fewer matches than its share gives them all and
the rest goes to the others. A request still waiting for reviews in another open queue is left out
unless asked (each trace once across open queues); one in a closed queue, or whose item got all
its reviews, is not. The request log's own "add to a queue" is not held to this: an owner adding
requests by hand means it.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import (
    CharField,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import MD5, Cast, Coalesce, Concat, Replace

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App
from reviewapp.feedback import filters as by_feedback
from reviewapp.feedback.models import Assessment, RequestFeedback
from reviewapp.judges.models import JudgeResult, current_versions
from reviewapp.requestlog.models import Request

from . import services
from .models import QueueEvent, QueueItem, Reservation, ReviewQueue

# A fill adds at most what one call of add_items takes.
MAX_TARGET = services.MAX_REQUEST_IDS
MAX_VERSIONS = 20
MAX_SEED = 2**31 - 1
MAX_REASON_CHARS = 200
MAX_VERSION_CHARS = Request._meta.get_field("app_version").max_length
MAX_JUDGE_CHARS = 80
SAMPLE_ROWS = 5
# Rules that need feedback, which unreviewed traffic has none of.
NEEDS_FEEDBACK = ("thumbs_down", "chunk_precision_below", "reason", "judge_disagrees")


@dataclass(frozen=True)
class Rules:
    """What to fill a queue with; every rule given must hold (AND)."""

    target: int = 100  # at most this many requests
    since: datetime | None = None  # logged at or after
    until: datetime | None = None  # logged before
    thumbs_down: bool = False  # some reviewer's effective rating is a thumbs down
    # The share of the request's rated passages judged relevant is below this (0 < x <= 1).
    chunk_precision_below: float | None = None
    reason: str = ""  # a thumbs down in force gives this reason
    app_versions: tuple[str, ...] = ()  # logged with one of these; the target is split over them
    judge: str = ""  # a live judge of the app, read by the two rules below (its current version)
    judge_disagrees: bool = (
        False  # it failed what every reviewer thumbed up, or passed what they thumbed down
    )
    judge_score_below: float | None = None  # it scored the request below this (0 < x <= 1)
    unreviewed: bool = False  # no feedback yet
    include_queued: bool = False  # take requests waiting in another open queue too
    seed: int | None = None  # None: a new one, reported with the selection

    def as_json(self) -> dict:
        data = asdict(self)
        data["app_versions"] = list(self.app_versions)
        for name in ("since", "until"):
            data[name] = data[name].isoformat() if data[name] else None
        return data


@dataclass
class Selection:
    """What the rules select: counts, the seed, and the ids in draw order."""

    seed: int
    matching: int  # requests the rules match (those already in the queue being filled left out)
    skipped_queued: int  # of those, left out as waiting in another open queue
    request_ids: list[uuid.UUID] = field(default_factory=list)
    by_version: dict[str, int] = field(default_factory=dict)  # selected per chosen version

    @property
    def selected(self) -> int:
        return len(self.request_ids)


@dataclass
class Filled:
    selection: Selection
    added: int
    items: int  # in the queue now


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _share_error(errors: dict, name: str, value) -> None:
    if value is not None and (not _number(value) or not 0 < value <= 1):
        errors[name] = ["must be a number above 0 and at most 1"]


def check_rules(app: App, rules: Rules) -> None:
    """Raise ValidationError naming each rule at fault; nothing is read but a few index lookups."""
    errors: dict[str, list] = {}
    target = rules.target
    if not (isinstance(target, int) and not isinstance(target, bool) and 1 <= target <= MAX_TARGET):
        errors["target"] = [f"must be a whole number from 1 to {MAX_TARGET:,}"]
    if rules.since and rules.until and rules.since >= rules.until:
        errors["until"] = ["must be later than since"]
    _share_error(errors, "chunk_precision_below", rules.chunk_precision_below)
    _share_error(errors, "judge_score_below", rules.judge_score_below)
    if len(rules.reason) > MAX_REASON_CHARS:
        errors["reason"] = [f"at most {MAX_REASON_CHARS} characters"]
    _check_versions(app, rules.app_versions, errors)
    _check_judge(app, rules, errors)
    if rules.unreviewed:
        clashing = [name for name in NEEDS_FEEDBACK if getattr(rules, name) not in (False, None, "")]
        if clashing:
            errors["unreviewed"] = [
                f"unreviewed traffic has no feedback, so it cannot also match {', '.join(clashing)}"
            ]
    if rules.seed is not None and not (
        isinstance(rules.seed, int) and not isinstance(rules.seed, bool) and 0 <= rules.seed <= MAX_SEED
    ):
        errors["seed"] = [f"must be a whole number from 0 to {MAX_SEED}"]
    if errors:
        raise ValidationError(errors)


def _check_versions(app: App, versions: tuple[str, ...], errors: dict) -> None:
    if len(versions) > MAX_VERSIONS:
        errors["app_versions"] = [f"at most {MAX_VERSIONS} versions ({len(versions)} given)"]
        return
    if len(set(versions)) != len(versions):
        errors["app_versions"] = ["each version once"]
        return
    if any(len(v) > MAX_VERSION_CHARS for v in versions):
        errors["app_versions"] = [f"a version has at most {MAX_VERSION_CHARS} characters"]
        return
    # An index seek each (req_app_version_time).
    unknown = [v for v in versions if not Request.objects.filter(app=app, app_version=v).exists()]
    if unknown:
        errors["app_versions"] = [
            f"no request of this app was logged with version {', '.join(repr(v) for v in unknown)}"
        ]


def _check_judge(app: App, rules: Rules, errors: dict) -> None:
    asks = rules.judge_disagrees or rules.judge_score_below is not None
    if not rules.judge:
        if asks:
            errors["judge"] = ["name the judge whose verdicts these rules read"]
        return
    if len(rules.judge) > MAX_JUDGE_CHARS or not current_versions(rules.judge, app.pk):
        errors["judge"] = [f"this app has no judge named {rules.judge[:MAX_JUDGE_CHARS]!r}"]
    elif not asks:
        errors["judge"] = ["with a judge, ask for judge_disagrees or judge_score_below"]


# --- what matches --------------------------------------------------------------------------


def _matching(app: App, rules: Rules, queue: ReviewQueue | None) -> QuerySet[Request]:
    requests = Request.objects.for_app(app)
    if rules.app_versions:
        requests = requests.filter(app_version__in=rules.app_versions)
    if rules.thumbs_down:
        requests = by_feedback.requests_rated(requests, Assessment.Rating.NEGATIVE)
    if rules.chunk_precision_below is not None:
        # relevant / rated < x as relevant < x * rated, in exact decimals (0.3 * 10 is 3, not 3.0000000000000004).
        bar = ExpressionWrapper(
            F("feedback_summary__passages_rated") * Value(Decimal(str(rules.chunk_precision_below))),
            output_field=DecimalField(),
        )
        requests = by_feedback.requests_by_retrieval(requests, "rated").filter(
            feedback_summary__passages_relevant__lt=bar
        )
    if rules.reason:
        requests = by_feedback.requests_with_reason(requests, rules.reason)
    if rules.judge:
        requests = _judged(app, rules, requests)
    if rules.unreviewed:
        requests = by_feedback.requests_with_feedback(requests, present=False)
    requests = requests.between(rules.since, rules.until)
    if queue is not None:
        requests = requests.exclude(Exists(QueueItem.objects.filter(queue=queue, request_id=OuterRef("pk"))))
    return requests


def _judged(app: App, rules: Rules, requests: QuerySet[Request]) -> QuerySet[Request]:
    (version,) = current_versions(rules.judge, app.pk)  # checked: a live judge's name is unique
    results = JudgeResult.objects.filter(
        request_id=OuterRef("pk"), app_id=OuterRef("app_id"), version_id=version
    )
    if rules.judge_score_below is not None:
        # An error has no score, so it is never "below".
        requests = requests.filter(Exists(results.filter(score__lt=rules.judge_score_below)))
    if rules.judge_disagrees:
        verdict = RequestFeedback.Verdict
        requests = by_feedback.summarized(requests).filter(
            Q(
                Exists(results.filter(value=JudgeResult.Value.FAIL)),
                feedback_summary__verdict=verdict.POSITIVE,
            )
            | Q(
                Exists(results.filter(value=JudgeResult.Value.PASS)),
                feedback_summary__verdict=verdict.NEGATIVE,
            )
        )
    return requests


def _waiting_elsewhere(app: App, queue: ReviewQueue | None) -> Exists | None:
    """The outer request is an item of another open queue of the app with fewer done reviews than
    that queue's overlap; None when the app has no other open queue."""
    others = ReviewQueue.objects.filter(app=app, closed_at__isnull=True)
    if queue is not None:
        others = others.exclude(pk=queue.pk)
    # The ids first: the (queue, request) index then finds a request's items in each.
    open_ids = list(others.values_list("pk", flat=True))
    if not open_ids:
        return None
    done = (
        Reservation.objects.filter(item_id=OuterRef("pk"), done_at__isnull=False)
        .order_by()
        .values("item_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    waiting = (
        QueueItem.objects.filter(queue_id__in=open_ids, request_id=OuterRef("pk"))
        .annotate(done=Coalesce(Subquery(done), 0))
        .filter(done__lt=F("queue__overlap"))
    )
    return Exists(waiting)


# --- the sample ----------------------------------------------------------------------------


def _draw(seed: int):
    """Each request's place in the sample: md5 of "seed:request id as 32 hex digits" (the same
    text on PostgreSQL and SQLite)."""
    hex_id = Replace(Cast("request_id", CharField()), Value("-"), Value(""))
    return MD5(Concat(Value(f"{seed}:"), hex_id, output_field=CharField()))


def shares(target: int, available: dict[str, int], order: list[str]) -> dict[str, int]:
    """`target` split evenly over the versions in `order` (the first ones take the remainder); a
    version with fewer than its share gives what it has, and the rest is split over the others."""
    share = dict.fromkeys(order, 0)
    open_ = [v for v in order if available.get(v, 0) > 0]
    left = target
    while left > 0 and open_:
        each, extra = divmod(left, len(open_))
        for i, version in enumerate(open_):
            share[version] += min(each + (1 if i < extra else 0), available[version] - share[version])
        left = target - sum(share.values())
        open_ = [v for v in open_ if share[v] < available[v]]
    return share


def select(app: App, rules: Rules, *, queue: ReviewQueue | None = None) -> Selection:
    """What the rules select from `app`'s log for `queue` (a new queue when None). Writes nothing
    of its own (reading the feedback summaries first sums feedback not yet summed)."""
    check_rules(app, rules)
    seed = rules.seed if rules.seed is not None else secrets.randbelow(MAX_SEED + 1)
    matched = _matching(app, rules, queue)
    waiting = None if rules.include_queued else _waiting_elsewhere(app, queue)
    tallies = {"all": Count("pk")}
    if waiting is not None:
        tallies["waiting"] = Count("pk", filter=Q(waiting))
    stratified = len(rules.app_versions) > 1
    if stratified:
        # One pass counts each version's matches and those left out.
        per_version = list(matched.order_by().values("app_version").annotate(**tallies))
        counts = {name: sum(row[name] for row in per_version) for name in tallies}
        available = {row["app_version"]: row["all"] - row.get("waiting", 0) for row in per_version}
    else:
        counts = matched.order_by().aggregate(**tallies)
    eligible = matched if waiting is None else matched.filter(~waiting)
    eligible = eligible.order_by().annotate(draw=_draw(seed))
    selection = Selection(seed=seed, matching=counts["all"], skipped_queued=counts.get("waiting", 0))
    drawn: list[tuple[str, uuid.UUID]] = []
    if stratified:
        selection.by_version = shares(rules.target, available, list(rules.app_versions))
        for version, share in selection.by_version.items():
            if share:
                rows = eligible.filter(app_version=version).order_by("draw", "pk")[:share]
                drawn.extend(rows.values_list("draw", "request_id"))
    else:
        drawn = list(eligible.order_by("draw", "pk").values_list("draw", "request_id")[: rules.target])
        if rules.app_versions:
            selection.by_version = {rules.app_versions[0]: len(drawn)}
    # The strata interleaved, in draw order: the queue hands them out mixed.
    selection.request_ids = [request_id for _, request_id in sorted(drawn)]
    return selection


def sample_rows(selection: Selection, n: int = SAMPLE_ROWS) -> list[Request]:
    """The first `n` selected requests, for a preview."""
    ids = selection.request_ids[:n]
    found = {
        r.request_id: r
        for r in Request.objects.filter(request_id__in=ids).only(
            "request_id", "app_id", "app_version", "created_at", "messages", "response"
        )
    }
    return [found[i] for i in ids if i in found]


# --- filling -------------------------------------------------------------------------------


def _check_fillable(queue: ReviewQueue) -> None:
    if queue.closed_at is not None:
        raise ValidationError({"queue": ["this queue is closed: reopen it to add items"]})
    if queue.mode != ReviewQueue.Mode.REVIEW:
        raise ValidationError({"queue": ["rules fill queues that review each response, not pairwise ones"]})


def _lock_fills(app: App) -> None:
    """Fills of one app, one at a time: each sees what the last one added, so two at once cannot
    put the same trace in two open queues (new ones included). FOR NO KEY UPDATE: a turn being
    logged (its insert only shares the app's key) does not wait for a fill."""
    list(App.objects.select_for_update(no_key=True).filter(pk=app.pk).values("pk"))


@transaction.atomic
def fill_queue(*, queue: ReviewQueue, rules: Rules, actor: User | None) -> Filled:
    """Add what the rules select to `queue`, and say so in its audit log."""
    _check_fillable(queue)
    _lock_fills(queue.app)
    selection = select(queue.app, rules, queue=queue)
    result = services.add_items(queue=queue, request_ids=selection.request_ids, actor=actor)
    QueueEvent.objects.create(
        queue=queue,
        actor=actor,
        action="filled_by_rules",
        changes={
            "rules": rules.as_json() | {"seed": selection.seed},
            "matching": selection.matching,
            "skipped_queued": selection.skipped_queued,
            "count": len(result.added),
        },
    )
    return Filled(selection=selection, added=len(result.added), items=queue.items.count())


@transaction.atomic
def create_filled_queue(
    *, app: App, created_by: User | None, rules: Rules, **queue_fields
) -> tuple[ReviewQueue, Filled]:
    """A new queue (`queue_fields` as for services.create_queue, without request ids) filled by the rules."""
    if queue_fields.get("mode", ReviewQueue.Mode.REVIEW) != ReviewQueue.Mode.REVIEW:
        raise ValidationError({"mode": ["rules fill queues that review each response, not pairwise ones"]})
    check_rules(app, rules)
    _lock_fills(app)
    queue, _ = services.create_queue(app=app, created_by=created_by, **queue_fields)
    return queue, fill_queue(queue=queue, rules=rules, actor=created_by)
