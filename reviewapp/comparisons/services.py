"""Pairwise comparison queues: building them, replaying requests on another version, and what
reviewers decide.

A pairwise queue is an ordinary review queue (mode pairwise) whose items are pairs of responses
to one request. Its pairs come from two app versions (each request logged on A is replayed on B,
by a background job, as a turn of source `comparison`) or from imported pairs. Functions take
keyword-only arguments and raise django.core.exceptions.ValidationError naming the field at fault.
"""

import copy
import secrets
import uuid
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App
from reviewapp.chains.messages import check_question
from reviewapp.jobs import services as jobs
from reviewapp.jobs.models import Job
from reviewapp.lib.limits import MaxChars, MaxItems, check, refuse_broken
from reviewapp.lib.parsers import loads_checked
from reviewapp.lib.text import storable_json
from reviewapp.queues import claims
from reviewapp.queues import services as queues
from reviewapp.queues.models import QueueItem, ReviewQueue
from reviewapp.requestlog.models import Request

from .models import REASONS, Comparison, ComparisonPair, PairOrder, Preference

REPLAY_KIND = "comparison_replays"
MAX_PAIRS = 10_000
PAIRS = [MaxItems(MAX_PAIRS, "at most {limit} pairs at once ({given} given)")]
MAX_RESPONSE_CHARS = 1_000_000
VERSION = [MaxChars(100)]
OTHER_REASON = [MaxChars(1_000)]
COMMENT = [MaxChars(20_000)]
_CHUNK = 1000


# --- versions ----------------------------------------------------------------------------


def versions_of(app: App) -> list[str]:
    """The versions a comparison can replay on: the app's current one and every one it served."""
    served = app.versions.order_by("-started_at", "-id").values_list("version", flat=True)
    return list(dict.fromkeys([app.version, *served]))


def chain_of(app: App, version: str) -> App:
    """`app` as it served `version` (its adapter and settings then), for running that version's chain.

    Not saved: a copy whose turns are logged on the app under that version label.
    """
    if version == app.version:
        return app
    row = app.versions.filter(version=version).order_by("-started_at", "-id").first()
    if row is None:
        raise ValidationError({"version_b": [f"app {app.slug!r} has no version {version!r} to replay on"]})
    replica = copy.copy(app)
    replica.adapter, replica.adapter_config, replica.version = row.adapter, row.adapter_config, version
    return replica


# --- building a queue ----------------------------------------------------------------------


def _parse_ids(raw_ids: list) -> list[uuid.UUID]:
    parsed, bad = [], []
    for raw in raw_ids:
        try:
            parsed.append(raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw).strip()))
        except (ValueError, AttributeError, TypeError):
            bad.append(str(raw)[:100])
    if bad:
        raise ValidationError({"request_ids": [f"not a request id: {', '.join(bad[:20])}"]})
    return list(dict.fromkeys(parsed))


def _originals(app: App, version_a: str, raw_ids: list) -> list[Request]:
    """The requests to replay, in the order given: the app's, answered by version A."""
    ids = _parse_ids(raw_ids)
    found: dict[uuid.UUID, Request] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        found.update((r.request_id, r) for r in Request.objects.filter(app=app, request_id__in=chunk))
    problems = []
    missing = [str(i) for i in ids if i not in found]
    if missing:
        problems.append(f"no such request in app {app.slug!r}: {', '.join(missing[:20])}")
    other = [str(i) for i in ids if i in found and found[i].app_version != version_a]
    if other:
        problems.append(f"not answered by version {version_a!r}: {', '.join(other[:20])}")
    failed = [str(i) for i in ids if i in found and found[i].status != Request.Status.OK]
    if failed:
        problems.append(f"has no complete answer to compare: {', '.join(failed[:20])}")
    if problems:
        raise ValidationError({"request_ids": problems})
    return [found[i] for i in ids]


def _text(value, name: str, where: str, errors: list[str]) -> str | None:
    if not isinstance(value, str):
        errors.append(f"{where}: {name} must be a string")
        return None
    if len(value) > MAX_RESPONSE_CHARS:
        errors.append(f"{where}: {name} is longer than {MAX_RESPONSE_CHARS} characters")
        return None
    return value


def parse_pairs(rows: list, *, where: str = "pair {n}") -> list[dict]:
    """Imported pairs checked: each {"messages" or "prompt", "response_a", "response_b", optional
    "version_a", "version_b"}. Raises ValidationError({"pairs": [...]}) naming each bad row;
    `where` names a row for the reader ("line {n}" for an upload)."""
    refuse_broken("pairs", rows, PAIRS)
    errors: list[str] = []
    pairs: list[dict] = []
    allowed = {"messages", "prompt", "response_a", "response_b", "version_a", "version_b"}
    for n, row in enumerate(rows, start=1):
        at = where.format(n=n)
        if not isinstance(row, dict):
            errors.append(f"{at}: must be an object")
            continue
        unknown = sorted(set(row) - allowed)
        if unknown:
            errors.append(f"{at}: unknown field {', '.join(map(repr, unknown))}")
        if ("messages" in row) == ("prompt" in row):
            errors.append(f"{at}: give either messages or prompt")
            continue
        if "prompt" in row:
            prompt = _text(row["prompt"], "prompt", at, errors)
            messages = [{"role": "user", "content": prompt}] if prompt is not None else None
        else:
            messages = row["messages"]
        if messages is not None:
            try:
                check_question(messages)
            except ValidationError as error:
                errors.append(f"{at}: {' '.join(error.messages)}")
                messages = None
        responses = [_text(row.get(side), side, at, errors) for side in ("response_a", "response_b")]
        versions = []
        for side, default in (("version_a", "A"), ("version_b", "B")):
            value = row.get(side, default)
            if not isinstance(value, str) or not value.strip() or len(value) > 100:
                errors.append(f"{at}: {side} must be a label of 1 to 100 characters")
            versions.append(value.strip() if isinstance(value, str) else "")
        if messages is not None and None not in responses and versions[0] == versions[1] and versions[0]:
            errors.append(f"{at}: version_a and version_b must differ")
        elif messages is not None and None not in responses:
            pairs.append({"messages": messages, "responses": responses, "versions": versions})
        if len(errors) >= 50:
            errors.append("(stopped after 50 errors)")
            break
    if errors:
        raise ValidationError({"pairs": errors})
    if not pairs:
        raise ValidationError({"pairs": ["give at least one pair"]})
    return pairs


def parse_pairs_jsonl(data: bytes) -> list[dict]:
    """The rows of an uploaded JSONL file of pairs, one per line (blank lines skipped), checked as
    parse_pairs checks them but named by their line in the file."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValidationError({"pairs": [f"the file is not UTF-8 text (byte {error.start})"]}) from None
    rows, numbers, errors = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            # As the API's parser: NUL, unpaired surrogates and deep nesting refused, by path.
            rows.append(loads_checked(line))
            numbers.append(number)
        except ValueError as error:
            errors.append(f"line {number}: {error}")
    if errors:
        raise ValidationError({"pairs": errors[:50]})
    try:
        parse_pairs(rows, where="row {n}")
    except ValidationError as error:
        # Rows are numbered without the blank lines; say the file's line numbers.
        said = [_line_numbers(message, numbers) for message in error.message_dict["pairs"]]
        raise ValidationError({"pairs": said}) from None
    return rows


def _line_numbers(message: str, numbers: list[int]) -> str:
    if message.startswith("row "):
        head, _, rest = message.partition(":")
        index = int(head.split()[1]) - 1
        return f"line {numbers[index]}:{rest}"
    return message


def _imported_request(app: App, user, messages: list, response: str, version: str, now) -> Request:
    fields = {"messages": messages, "response": response, "app_version": version}
    altered = False
    for name, value in fields.items():
        fields[name], changed = storable_json(value)
        altered |= changed
    return Request(
        app=app,
        conversation_id=str(uuid.uuid4()),
        source=Request.Source.IMPORT,
        user=user if getattr(user, "is_authenticated", False) else None,
        created_at=now,
        status=Request.Status.OK,
        text_altered=altered,
        **fields,
    )


@transaction.atomic
def create_pairwise_queue(
    *,
    app: App,
    name: str,
    created_by: User | None,
    instructions: str = "",
    overlap: int = 1,
    assignment: str = ReviewQueue.Assignment.OPEN,
    blind: bool = False,
    reviewers: Iterable[User] = (),
    version_a: str = "",
    version_b: str = "",
    request_ids: Iterable = (),
    pairs: list | None = None,
) -> tuple[ReviewQueue, Comparison]:
    """A pairwise queue: requests of version A replayed on version B (in a background job), or
    imported `pairs` (see parse_pairs), ready at once. All is created, or nothing."""
    request_ids = list(request_ids)
    errors: dict[str, list] = {}
    originals: list[Request] = []
    parsed: list[dict] = []
    if pairs is not None:
        if version_a or version_b or request_ids:
            errors["pairs"] = ["give either pairs, or version_a, version_b and request_ids"]
        else:
            try:
                parsed = parse_pairs(pairs)
            except ValidationError as error:
                errors.update(error.message_dict)
    else:
        versions = versions_of(app)
        for field, value in (("version_a", version_a), ("version_b", version_b)):
            if not value:
                errors[field] = [f"pick a version of the app ({', '.join(versions)})"]
            else:
                check(errors, field, value, VERSION)
        if version_a and version_a == version_b:
            errors["version_b"] = ["pick a version other than version A"]
        elif version_b and "version_b" not in errors and version_b not in versions:
            errors["version_b"] = [f"no version {version_b!r} to replay on; one of {', '.join(versions)}"]
        if not request_ids:
            errors["request_ids"] = ["give the requests of version A to compare"]
        elif "version_a" not in errors:
            try:
                refuse_broken("request_ids", request_ids, queues.REQUEST_IDS)
                originals = _originals(app, version_a, request_ids)
            except ValidationError as error:
                errors.update(error.message_dict)
    try:
        queue, _ = queues.create_queue(
            app=app,
            name=name,
            created_by=created_by,
            instructions=instructions,
            overlap=overlap,
            assignment=assignment,
            blind=blind,
            reviewers=reviewers,
        )
    except ValidationError as error:
        raise ValidationError({**errors, **error.error_dict}) from None
    if errors:
        raise ValidationError(errors)
    ReviewQueue.objects.filter(pk=queue.pk).update(mode=ReviewQueue.Mode.PAIRWISE)
    queue.mode = ReviewQueue.Mode.PAIRWISE
    if pairs is not None:
        comparison = Comparison.objects.create(queue=queue, kind=Comparison.Kind.IMPORTED)
        _import_pairs(comparison, parsed, created_by)
        return queue, comparison
    comparison = Comparison.objects.create(
        queue=queue, kind=Comparison.Kind.VERSIONS, version_a=version_a, version_b=version_b
    )
    ComparisonPair.objects.bulk_create(
        [
            ComparisonPair(
                comparison=comparison, position=n, request_a=r, version_a=version_a, version_b=version_b
            )
            for n, r in enumerate(originals)
        ],
        batch_size=_CHUNK,
    )
    from .tasks import replay_pairs_task

    comparison.job = jobs.enqueue(
        kind=REPLAY_KIND,
        app=app,
        user=created_by,
        params={"comparison_id": comparison.pk},
        task=replay_pairs_task,
    )
    comparison.save(update_fields=["job"])
    return queue, comparison


def _import_pairs(comparison: Comparison, parsed: list[dict], user) -> None:
    app, now = comparison.queue.app, timezone.now()
    made = []
    for row in parsed:
        (response_a, response_b), (version_a, version_b) = row["responses"], row["versions"]
        made.append(
            (
                _imported_request(app, user, row["messages"], response_a, version_a, now),
                _imported_request(app, user, row["messages"], response_b, version_b, now),
            )
        )
    Request.objects.bulk_create([r for pair in made for r in pair], batch_size=_CHUNK)
    queues.add_items(queue=comparison.queue, request_ids=[a.request_id for a, _ in made], paired=True)
    items = dict(comparison.queue.items.values_list("request_id", "pk"))
    ComparisonPair.objects.bulk_create(
        [
            ComparisonPair(
                comparison=comparison,
                position=n,
                request_a=a,
                request_b=b,
                version_a=a.app_version,
                version_b=b.app_version,
                status=ComparisonPair.Status.READY,
                item_id=items[a.request_id],
            )
            for n, (a, b) in enumerate(made)
        ],
        batch_size=_CHUNK,
    )


# --- replays -------------------------------------------------------------------------------


def replay_pair(*, pair: ComparisonPair, chain: App, user) -> ComparisonPair:
    """Run the pair's request on version B's chain, log it (source comparison), and put the pair in
    the queue when it answered; a failure is kept on the pair, not raised."""
    from reviewapp.requestlog.services import run_turn

    original = pair.request_a
    turn = run_turn(app=chain, user=user, source=Request.Source.COMPARISON, messages=original.messages)
    replay = turn.request
    with transaction.atomic():
        # A pair another run of the job settled meanwhile keeps what that run made.
        pending = ComparisonPair.objects.select_for_update().filter(pk=pair.pk, status=pair.Status.PENDING)
        if not pending.exists():
            pair.refresh_from_db()
            return pair
        if replay.status == Request.Status.OK:
            queues.add_items(queue=pair.comparison.queue, request_ids=[original.request_id], paired=True)
            item = QueueItem.objects.get(queue=pair.comparison.queue, request=original)
            pending.update(request_b=replay, status=pair.Status.READY, item=item)
        else:
            # The chain's own words: only the app's managers see the queue page.
            why = replay.error or "The answer was incomplete"
            pending.update(request_b=replay, status=pair.Status.FAILED, error=why[:2000])
    pair.refresh_from_db()
    return pair


def replay_pairs(job: Job) -> dict:
    """The job: replay each pending pair of the comparison on version B, reporting progress."""
    comparison = Comparison.objects.select_related("queue__app").get(pk=job.params["comparison_id"])
    chain = chain_of(comparison.queue.app, comparison.version_b)
    user = job.created_by
    pairs = comparison.pairs.all()
    total = pairs.count()
    pending = list(pairs.pending().select_related("request_a", "comparison__queue__app"))
    done = total - len(pending)
    job.report_progress(done, total)
    for pair in pending:
        replay_pair(pair=pair, chain=chain, user=user)
        done += 1
        job.report_progress(done)
    counts = {status: pairs.filter(status=status).count() for status in ComparisonPair.Status.values}
    return {"pairs": total, **counts}


# --- reviewing -----------------------------------------------------------------------------


def order_for(*, pair: ComparisonPair, reviewer: User) -> bool:
    """Whether this reviewer sees the pair swapped (B's response first): drawn once, then kept."""
    order = PairOrder.objects.filter(pair=pair, reviewer=reviewer).first()
    if order is None:
        order, _ = PairOrder.objects.get_or_create(
            pair=pair, reviewer=reviewer, defaults={"swapped": bool(secrets.randbelow(2))}
        )
    return order.swapped


def shown(pair: ComparisonPair, swapped: bool) -> list[Request]:
    """The pair's two requests in the order this reviewer sees them (Response A, Response B)."""
    return [pair.request_b, pair.request_a] if swapped else [pair.request_a, pair.request_b]


CHOICES = ("a", "b", "tie")


@transaction.atomic
def record_preference(
    *,
    item: QueueItem,
    reviewer: User,
    choice: str,
    reasons: Iterable[str] = (),
    other_reason: str = "",
    comment: str = "",
) -> Preference:
    """The reviewer's pick of the response shown as A or B (or a tie), mapped to the pair's versions;
    the item is then done for them. Raises ValidationError by field, recording nothing."""
    pair = ComparisonPair.objects.filter(item=item).first()
    if pair is None or pair.status != ComparisonPair.Status.READY:
        raise ValidationError({"choice": ["this item is not a pair ready to compare"]})
    reasons = list(dict.fromkeys(reasons))
    errors: dict[str, list] = {}
    if choice not in CHOICES:
        errors["choice"] = ["pick Response A, Response B or a tie (a, b or t)"]
    unknown = [r for r in reasons if r not in [*REASONS, "other"]]
    if unknown:
        errors["reasons"] = [f"not a reason: {', '.join(unknown)}; one of {', '.join([*REASONS, 'other'])}"]
    check(errors, "other_reason", other_reason, OTHER_REASON)
    check(errors, "comment", comment, COMMENT)
    if "other" in reasons and not other_reason.strip():
        errors["other_reason"] = ["say what the other reason is"]
    order = PairOrder.objects.filter(pair=pair, reviewer=reviewer).first()
    if order is None:
        errors.setdefault("choice", ["open the pair before judging it"])
    if errors:
        raise ValidationError(errors)
    winner = choice
    if order.swapped and choice != "tie":
        winner = "b" if choice == "a" else "a"
    preference = Preference.objects.create(
        pair=pair,
        reviewer=reviewer,
        winner=winner,
        swapped=order.swapped,
        reasons=reasons,
        other_reason=other_reason if "other" in reasons else "",
        comment=comment,
    )
    claims.complete_item(item=item, reviewer=reviewer)
    return preference


def shown_choice(preference: Preference | None) -> str:
    """A recorded preference as its reviewer saw it: "a", "b" or "tie" of the order they were shown."""
    if preference is None:
        return ""
    if preference.winner == "tie" or not preference.swapped:
        return preference.winner
    return "b" if preference.winner == "a" else "a"
