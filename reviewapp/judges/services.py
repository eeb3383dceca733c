"""Judge workflows people start: define a judge, change it (a new version), delete it, run it.

Each checks its input here, before anything is written or queued; the run itself is runs.run.
"""

import math

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from reviewapp.catalog.models import App
from reviewapp.exports.models import JUDGE_NAME_RE
from reviewapp.exports.selection import Filters, curated_requests
from reviewapp.jobs import services as jobs
from reviewapp.jobs.models import Job

from .metrics import METRICS
from .models import Judge, JudgeVersion
from .online import LIVE_KINDS

RUN_KIND = "run_judge"
NAME_HELP = "lower-case letters, digits and '_', starting with a letter, at most 80"


def _check_metric(kind: str, metric: str) -> None:
    if metric not in METRICS[kind]:
        raise ValidationError({"metric": f"A {kind} judge measures one of: {', '.join(METRICS[kind])}."})


def _check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold):
        raise ValidationError({"threshold": "Give a number from 0 to 1."})
    if not 0 <= threshold <= 1:
        raise ValidationError({"threshold": "Give a number from 0 to 1: scores are between 0 and 1."})
    return float(threshold)


@transaction.atomic
def create_judge(
    *,
    app: App,
    user,
    name: str,
    kind: str,
    metric: str = "",
    threshold=None,
    sample_percent=None,
    daily_cap=None,
) -> Judge:
    """A judge and its version 1; the metric and threshold default to the kind's first ones."""
    if not JUDGE_NAME_RE.match(name or ""):
        raise ValidationError({"name": f"{name!r} is not a valid judge name: use {NAME_HELP}."})
    if kind not in METRICS:
        raise ValidationError({"kind": f"Use one of: {', '.join(METRICS)}."})
    metric = metric or next(iter(METRICS[kind]))
    _check_metric(kind, metric)
    threshold = METRICS[kind][metric] if threshold is None else _check_threshold(threshold)
    taken = ValidationError(
        {"name": ValidationError(f"This app already has a judge named {name!r}.", code="conflict")}
    )
    if Judge.objects.live().filter(app=app, name=name).exists():
        raise taken
    try:
        with transaction.atomic():
            judge = Judge.objects.create(app=app, name=name, kind=kind, created_by=_who(user))
    except IntegrityError:
        raise taken from None  # defined by someone else just now
    JudgeVersion.objects.create(
        judge=judge, number=1, metric=metric, threshold=threshold, created_by=_who(user)
    )
    return set_sampling(judge=judge, sample_percent=sample_percent, daily_cap=daily_cap)


@transaction.atomic
def change_judge(*, judge: Judge, user, metric: str | None = None, threshold=None) -> JudgeVersion:
    """The judge's next version with these settings; the current one when nothing changes."""
    Judge.objects.select_for_update().filter(pk=judge.pk).first()  # one next number at a time
    current = judge.current
    metric = current.metric if metric in (None, "") else metric
    _check_metric(judge.kind, metric)
    if threshold is None:
        # A new metric starts from its own default threshold unless one is given.
        threshold = current.threshold if metric == current.metric else METRICS[judge.kind][metric]
    else:
        threshold = _check_threshold(threshold)
    if (metric, threshold) == (current.metric, current.threshold):
        return current
    return JudgeVersion.objects.create(
        judge=judge, number=current.number + 1, metric=metric, threshold=threshold, created_by=_who(user)
    )


MAX_DAILY_CAP = 1_000_000


def set_sampling(*, judge: Judge, sample_percent=None, daily_cap=None) -> Judge:
    """How much live traffic the judge takes (0–100 % of new turns, at most `daily_cap` a day)."""
    changed = []
    if sample_percent is not None:
        if (
            isinstance(sample_percent, bool)
            or not isinstance(sample_percent, int | float)
            or not math.isfinite(sample_percent)
            or not 0 <= sample_percent <= 100
        ):
            raise ValidationError({"sample_percent": "Give a share of new turns from 0 to 100."})
        if sample_percent and judge.kind not in LIVE_KINDS:
            raise ValidationError(
                {
                    "sample_percent": f"A {judge.kind} judge needs the reviewers' feedback, which a new turn has not got yet."
                }
            )
        judge.sample_percent = float(sample_percent)
        changed.append("sample_percent")
    if daily_cap is not None:
        if (
            isinstance(daily_cap, bool)
            or not isinstance(daily_cap, int)
            or not 0 <= daily_cap <= MAX_DAILY_CAP
        ):
            raise ValidationError({"daily_cap": f"Give a whole number from 0 to {MAX_DAILY_CAP:,}."})
        judge.daily_cap = daily_cap
        changed.append("daily_cap")
    if changed:
        judge.save(update_fields=changed)
    return judge


def delete_judge(*, judge: Judge) -> None:
    """Hidden from now on; its versions and results stay (and its name is free again)."""
    judge.deleted_at = timezone.now()
    judge.save(update_fields=["deleted_at"])


def start_run(*, judge: Judge, user, filters: Filters, version: int | None = None) -> Job:
    """Queue the job that judges the selected reviewed requests with a version (the current one)."""
    from .tasks import run_judge_task

    chosen = judge.current if version is None else judge.versions.filter(number=version).first()
    if chosen is None:
        raise ValidationError({"version": f"{judge.name} has no version {version}."})
    total = curated_requests(app=judge.app, filters=filters).count()
    if not total:
        field = "request_ids" if filters.request_ids else "filters"
        raise ValidationError({field: "The selection is empty: no reviewed request matches."})
    params = {
        "version": chosen.pk,
        "judge": judge.name,
        "number": chosen.number,
        "filters": filters.as_dict(),
        "selected": total,
    }
    return jobs.enqueue(kind=RUN_KIND, app=judge.app, user=user, params=params, task=run_judge_task)


def _who(user):
    return user if user is not None and user.is_authenticated else None
