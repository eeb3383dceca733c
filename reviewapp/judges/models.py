"""Judges: what a manager defines to score an app's requests, each change a new version, and the
results each version gave (append-only, beside the humans' assessments)."""

from django.db import models
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App
from reviewapp.requestlog.models import Request


class JudgeQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted_at__isnull=True)


class Judge(models.Model):
    """A named judge of one app. Deleting one hides it; its versions and results stay."""

    class Kind(models.TextChoices):
        REFERENCE = "reference", "Reference metric (against the reviewers' correction)"
        GROUNDEDNESS = "groundedness", "Groundedness of each answer sentence in the retrieved passages"
        RETRIEVAL = "retrieval", "Retrieval metric (from the reviewers' chunk ratings)"
        LLM = "llm", "LLM judge (MLflow's GenAI judges, calling a model you configure)"

    app = models.ForeignKey(App, models.CASCADE, related_name="judges")
    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    created_by = models.ForeignKey(User, models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Live traffic: this share of new turns is judged by a worker after the turn is logged, at
    # most `daily_cap` a day (UTC). Not versioned: it says how often, not how a judge decides.
    sample_percent = models.FloatField(default=0)
    daily_cap = models.PositiveIntegerField(default=1000)

    objects = JudgeQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            # A deleted judge's name may be used again; a live one's is unique in its app.
            models.UniqueConstraint(
                fields=["app", "name"], condition=models.Q(deleted_at__isnull=True), name="judge_live_name"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def current(self) -> "JudgeVersion":
        return self.versions.order_by("-number").first()


class JudgeVersion(models.Model):
    """One state of a judge's settings; results name the version that gave them."""

    judge = models.ForeignKey(Judge, models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    metric = models.CharField(max_length=30)  # one of judges.metrics.METRICS[kind]
    threshold = models.FloatField()  # a score at or above it passes
    # An LLM judge's settings (judges.llm): the manager's instructions (a custom criterion's prompt,
    # or the guidelines), the judge model, and the few-shot examples tuning gave it.
    instructions = models.TextField(blank=True)
    model = models.CharField(max_length=200, blank=True)
    endpoint_url = models.CharField(max_length=2000, blank=True)
    key_env = models.CharField(max_length=100, blank=True)  # the NAME of the variable, never the key
    examples = models.JSONField(default=list, blank=True)
    # A version tuning made: the version it was tuned from, and the requests held out of its
    # examples, on which both are measured (judges.tuning).
    tuned_from = models.ForeignKey("self", models.SET_NULL, null=True, blank=True, related_name="+")
    held_out = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(User, models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["judge", "number"]
        constraints = [models.UniqueConstraint(fields=["judge", "number"], name="judgeversion_once")]

    def __str__(self) -> str:
        return f"{self.judge.name} v{self.number}"

    def tally(self) -> dict:
        """How many results this version gave: verdicts (pass or fail) and errors."""
        counts = dict(self.results.values("value").annotate(n=models.Count("id")).values_list("value", "n"))
        judged = sum(counts.values())
        errors = counts.get(JudgeResult.Value.ERROR, 0)
        return {
            "judged": judged,
            "verdicts": judged - errors,
            "passed": counts.get(JudgeResult.Value.PASS, 0),
            "errors": errors,
            "error_rate": errors / judged if judged else None,
        }


class RequestTimeCopy(models.DateTimeField):
    """The request's created_at, copied into the row as it is written (a subquery in the INSERT,
    so whoever writes results need not read it; bulk_create included, and a save of an instance
    that never read it back)."""

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if value is None:
            return models.Subquery(
                Request.objects.filter(pk=model_instance.request_id).values("created_at")[:1]
            )
        return value


class JudgeResult(models.Model):
    """What one judge version said of one request: at most one per (version, request), so a run
    repeated (a retried job, a second run over the same selection) never judges twice."""

    class Value(models.TextChoices):
        PASS = "pass"
        FAIL = "fail"
        # The judge model could not answer (down, too slow, or a reply that is no verdict): kept
        # with the raw reply, and judged again by the next run.
        ERROR = "error"

    class SourceType(models.TextChoices):
        CODE = "CODE"  # a metric computed here, as MLflow names such a source
        LLM_JUDGE = "LLM_JUDGE"

    class MlflowStatus(models.TextChoices):
        """The write-back to the request's MLflow trace (judges.mlflow_write)."""

        NONE = "", "nothing to write (no trace, or no verdict)"
        PENDING = "pending"
        WRITING = "writing"
        DONE = "done"
        FAILED = "failed"  # the tracking store refused or was down: written again by the sweep
        SKIPPED = "skipped"  # the trace is not in this tracking store

    version = models.ForeignKey(JudgeVersion, models.CASCADE, related_name="results")
    request = models.ForeignKey(Request, models.CASCADE, related_name="judge_results")
    # Copied from the request and the judge so one index answers "this app's results".
    app = models.ForeignKey(App, models.CASCADE, related_name="+")
    app_version = models.CharField(max_length=100, blank=True)
    # The request's time: the request log pages a judge filter by it (judgeresult_version_req_time),
    # walking the judge's results in order instead of sorting every match.
    request_created_at = RequestTimeCopy()
    source_type = models.CharField(max_length=10, choices=SourceType.choices, default=SourceType.CODE)
    value = models.CharField(max_length=5, choices=Value.choices)
    score = models.FloatField(null=True, blank=True)
    rationale = models.TextField(blank=True)  # an error's raw reply
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True)  # the judge model an LLM judge called
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    online = models.BooleanField(default=False)  # a sampled live turn, not a run over a selection
    created_at = models.DateTimeField(default=timezone.now)
    mlflow_status = models.CharField(max_length=8, choices=MlflowStatus.choices, default="", blank=True)
    mlflow_tried_at = models.DateTimeField(null=True, blank=True)
    mlflow_assessment_id = models.CharField(max_length=64, blank=True)
    mlflow_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["version", "request"], name="judgeresult_once")]
        indexes = [
            models.Index(fields=["app", "request"], name="judgeresult_app_request"),
            # With the request: the page's whole order (time, then request), so a page is read in
            # order with no sort.
            models.Index(
                fields=["version", "request_created_at", "request"], name="judgeresult_version_req_time"
            ),
            # The daily cap: a judge's online results since midnight.
            models.Index(
                fields=["version", "created_at"],
                name="judgeresult_version_time",
                condition=models.Q(online=True),
            ),
            # The write-back sweep: the few results still to write.
            models.Index(
                fields=["mlflow_status", "mlflow_tried_at"],
                name="judgeresult_mlflow_open",
                condition=models.Q(mlflow_status__in=["pending", "writing", "failed"]),
            ),
        ]


def current_versions(judge_name: str, app_id: int | None = None) -> list[int]:
    """The ids of the current (highest-numbered) versions of the live judges named `judge_name`,
    one per app that has one (only `app_id`'s, when given)."""
    latest = (
        JudgeVersion.objects.filter(judge_id=models.OuterRef("judge_id"))
        .order_by("-number")
        .values("number")[:1]
    )
    versions = JudgeVersion.objects.filter(
        judge__name=judge_name, judge__deleted_at__isnull=True, number=models.Subquery(latest)
    )
    if app_id is not None:
        versions = versions.filter(judge__app_id=app_id)
    return list(versions.values_list("pk", flat=True))


def said_by(judge_name: str, said: str = "", *, request="pk", app="app_id") -> models.Exists:
    """Whether the live judge `judge_name`'s current version said `said` (anything, when blank) of
    the outer query's request (its `request` and `app` columns): the request log's and the
    curation's judge filter."""
    # The versions first, in their own query: against constant ids the planner knows from its
    # statistics how many results match (a judge may have judged every request), where a join to
    # the versions inside the query made it expect a few and sort them all.
    results = JudgeResult.objects.filter(
        request_id=models.OuterRef(request),
        app_id=models.OuterRef(app),
        version_id__in=current_versions(judge_name),
    )
    if said:
        results = results.filter(value=said)
    return models.Exists(results)


def requests_said_by(requests: models.QuerySet, app_id: int, judge_name: str, said: str = ""):
    """`requests` (of the app `app_id`) of which that app's live judge `judge_name`'s current version
    said `said` (anything, when blank), paged by the result's copy of the request's time: a page
    walks that version's results in time order, however few of the requests match."""
    current = current_versions(judge_name, app_id)
    if not current:
        return requests.none()
    (version,) = current  # a live judge's name is unique in its app
    given = {"judge_results__version_id": version}
    if said:
        given["judge_results__value"] = said
    # One join (a version judges a request once): the alias names its time, so the cursor's and the
    # range's bounds reuse that join.
    judged = requests.filter(**given)
    return judged.alias(judged_time=models.F("judge_results__request_created_at")).timed_by("judged_time")


class JudgeDay(models.Model):
    """The calls a judge made on live traffic one day (UTC): taken one at a time against its daily
    cap by a conditional UPDATE, so the cap holds however many workers judge at once, and a slow
    judge model never holds a lock."""

    judge = models.ForeignKey(Judge, models.CASCADE, related_name="days")
    day = models.DateField()
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["judge", "day"], name="judgeday_once")]
