"""Export workflows people start: queue an evaluation-set or judge-examples job, define a judge.

Each checks its input here, before anything is queued; the jobs themselves are in
evaluation_sets.py and judge_examples.py, their MLflow step in mlflow_step.py.
"""

import json

from django.core.exceptions import ValidationError
from django.db import transaction

from reviewapp.catalog.models import App
from reviewapp.jobs import services as jobs
from reviewapp.jobs.models import Job

from .judge_examples import DEFAULT_EXAMPLES_PER_JUDGE
from .models import JUDGE_NAME_RE, CustomJudge, EvaluationSet, validate_set_name
from .rows import BUILTIN_JUDGES, RULES
from .selection import Filters, curated_requests
from .writers import export_storage

MIN_EXAMPLES_PER_JUDGE, MAX_EXAMPLES_PER_JUDGE = 1, 1000

EVALUATION_SET_KIND = "export_evaluation_set"
JUDGE_EXAMPLES_KIND = "export_judge_examples"


def _check_selection(app: App, filters: Filters) -> int:
    total = curated_requests(app=app, filters=filters).count()
    if not total:
        field = "request_ids" if filters.request_ids else "filters"
        raise ValidationError({field: "The selection is empty: no reviewed request matches."})
    return total


def evaluation_set_selection(app: App, name: str, number: int | None = None) -> Filters:
    """The requests of an evaluation set's version (its latest when no number is given), as a
    selection: the rows that version holds, whatever the feedback says since."""
    evaluation_set = EvaluationSet.objects.filter(app=app, name=name).first()
    if evaluation_set is None:
        raise ValidationError({"evaluation_set": f"This app has no evaluation set named {name[:80]!r}."})
    versions = evaluation_set.versions.order_by("-number")
    version = versions.first() if number is None else versions.filter(number=number).first()
    if version is None:
        raise ValidationError(
            {
                "evaluation_set_version": f"The evaluation set {name!r} has no version {number or ''}".strip()
                + "."
            }
        )
    # The ids are in the published manifest, not in the row (they can be many).
    with export_storage().open(f"{version.relative_dir}/manifest.json", "rb") as manifest:
        request_ids = json.load(manifest).get("request_ids") or []
    if not request_ids:  # never "no ids", which would select every request
        raise ValidationError({"evaluation_set": f"Version {version.number} of {name!r} holds no request."})
    return Filters(request_ids=tuple(request_ids))


def _check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ValidationError({"rule": f"Unknown disagreement rule {rule!r}; use one of {', '.join(RULES)}."})


def start_evaluation_set_export(
    *,
    app: App,
    user,
    name: str,
    filters: Filters,
    rule: str = "majority",
    include_outputs: bool = False,
) -> Job:
    """Validate, then queue the job that writes the next version of evaluation set `name`."""
    from .tasks import export_evaluation_set_task

    validate_set_name(name)
    _check_rule(rule)
    total = _check_selection(app, filters)
    params = {
        "name": name,
        "filters": filters.as_dict(),
        "rule": rule,
        "include_outputs": include_outputs,
        "selected": total,
    }
    return jobs.enqueue(
        kind=EVALUATION_SET_KIND, app=app, user=user, params=params, task=export_evaluation_set_task
    )


def start_judge_export(
    *,
    app: App,
    user,
    filters: Filters,
    rule: str = "majority",
    judges: list[str] | None = None,
    examples_per_judge: int = DEFAULT_EXAMPLES_PER_JUDGE,
    holdout_set: str = "",
    holdout_by: str = "request",
) -> Job:
    """Validate, then queue the job that writes judge few-shot examples from the curated feedback."""
    from .tasks import export_judge_examples_task

    _check_rule(rule)
    custom = set(CustomJudge.objects.filter(app=app).values_list("name", flat=True))
    known = set(BUILTIN_JUDGES) | custom
    judges = list(judges or sorted(known, key=lambda j: (j not in BUILTIN_JUDGES, j)))
    unknown = [j for j in judges if j not in known]
    if unknown:
        raise ValidationError(
            {"judges": f"Unknown judge(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}."}
        )
    if not MIN_EXAMPLES_PER_JUDGE <= examples_per_judge <= MAX_EXAMPLES_PER_JUDGE:
        raise ValidationError(
            {
                "examples_per_judge": f"Give a number from {MIN_EXAMPLES_PER_JUDGE} to {MAX_EXAMPLES_PER_JUDGE}."
            }
        )
    if holdout_by not in ("request", "conversation"):
        raise ValidationError({"holdout_by": "Use 'request' or 'conversation'."})
    if holdout_set and not EvaluationSet.objects.filter(app=app, name=holdout_set).exists():
        raise ValidationError({"holdout_set": f"There is no evaluation set {holdout_set!r} for this app."})
    total = _check_selection(app, filters)
    params = {
        "filters": filters.as_dict(),
        "rule": rule,
        "judges": judges,
        "examples_per_judge": examples_per_judge,
        "holdout_set": holdout_set,
        "holdout_by": holdout_by,
        "selected": total,
    }
    return jobs.enqueue(
        kind=JUDGE_EXAMPLES_KIND, app=app, user=user, params=params, task=export_judge_examples_task
    )


@transaction.atomic
def create_custom_judge(
    *, app: App, user, name: str, type: str, definition: str, reasons: list[str]
) -> CustomJudge:
    errors = {}
    if not JUDGE_NAME_RE.match(name or ""):
        errors["name"] = "Use lower-case letters, digits and '_', starting with a letter (at most 80)."
    elif name in BUILTIN_JUDGES or CustomJudge.objects.filter(app=app, name=name).exists():
        errors["name"] = ValidationError(f"A judge named {name!r} already exists.", code="conflict")
    if type not in CustomJudge.Type.values:
        errors["type"] = "Use ANSWER or RETRIEVAL."
    if not (definition or "").strip():
        errors["definition"] = "Say what the judge checks."
    if errors:
        raise ValidationError(errors)
    return CustomJudge.objects.create(
        app=app, name=name, type=type, definition=definition.strip(), reasons=list(reasons), created_by=user
    )
