"""Evaluation sets (named, versioned) and judge few-shot exports, both written by jobs."""

import json
import re
from collections.abc import Iterator
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import models
from django.urls import reverse
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App
from reviewapp.jobs.leases import Lease
from reviewapp.jobs.models import Job
from reviewapp.lib import files

from .writers import export_storage

# A set name is a path segment in URLs, folders and MLflow names: keep it plain.
SET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
JUDGE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,79}$")
SET_NAME_HELP = "lower-case letters, digits, '-' and '_', starting with a letter or digit, at most 80"


def validate_set_name(name: str) -> None:
    if not SET_NAME_RE.match(name or ""):
        raise ValidationError({"name": f"{name!r} is not a valid set name: use {SET_NAME_HELP}"})


class MlflowStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Logged to MLflow"
    FAILED = "failed", "MLflow step failed"


class EvaluationSet(models.Model):
    app = models.ForeignKey(App, models.CASCADE, related_name="evaluation_sets")
    name = models.CharField(max_length=80)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["app", "name"], name="evalset_unique_name")]

    def __str__(self) -> str:
        return self.name


class MlflowLogged(models.Model):
    """What an export's MLflow step did, or why it has not done it yet.

    One worker at a time runs the step (MLFLOW_LEASE, as long as a job's: a heartbeat renews it
    while the step works). Its task is sent once the export is committed, and again by the exports
    sweep when no message is likely to start it: never sent or lost (`mlflow_sent_at`), its worker
    died (the lease ran out), or the retry after a failure, due at `mlflow_next_try_at`, is long
    overdue (its message died with a worker that held it, or never reached a broker that was down).
    """

    MLFLOW_LEASE = Lease("JOB_LEASE_SECONDS", until="mlflow_lease_until", attempts="mlflow_attempts")

    mlflow_status = models.CharField(
        max_length=10, choices=MlflowStatus.choices, default=MlflowStatus.PENDING
    )
    mlflow_attempts = models.PositiveIntegerField(default=0)
    mlflow_lease_until = models.DateTimeField(null=True, blank=True)
    # When the step's task last reached the broker (None: never), and when its retry is due.
    mlflow_sent_at = models.DateTimeField(null=True, blank=True)
    mlflow_next_try_at = models.DateTimeField(null=True, blank=True)
    mlflow_error = models.TextField(blank=True)
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    mlflow_experiment_id = models.CharField(max_length=64, blank=True)

    class Meta:
        abstract = True

    @property
    def directory(self) -> Path:
        """The folder of the files, where exports are kept on this machine (not on a bucket)."""
        return Path(export_storage().path(self.relative_dir))

    def open_file(self, name: str) -> File | None:
        """One of the export's files, opened for reading from the exports storage; None if it is
        not one of them or is missing."""
        if name not in self.files:
            return None
        try:
            return export_storage().open(f"{self.relative_dir}/{name}", "rb")
        except FileNotFoundError:
            return None

    def read_json(self, name: str):
        with export_storage().open(f"{self.relative_dir}/{name}", "rb") as handle:
            return json.load(handle)

    def file_url(self, name: str) -> str:
        raise NotImplementedError

    @property
    def downloads(self) -> list[tuple[str, str]]:
        """(file name, download URL) of each file, for pages."""
        return [(name, self.file_url(name)) for name in self.files]


class EvaluationSetVersion(MlflowLogged):
    """One complete, immutable version; the row exists only once its files are in place."""

    evaluation_set = models.ForeignKey(EvaluationSet, models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # The idempotency key: a retried job finds its version instead of writing another.
    job = models.OneToOneField(Job, models.PROTECT, related_name="evaluation_set_version")
    row_count = models.PositiveIntegerField()
    # {file name: size in bytes}; `relative_dir` in the exports storage holds them and manifest.json.
    files = models.JSONField(default=dict)
    relative_dir = models.CharField(max_length=300)
    manifest = models.JSONField(default=dict)
    created_by = models.ForeignKey(User, models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    mlflow_dataset_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation_set", "number"], name="evalset_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.evaluation_set.name} v{self.number}"

    def _url_args(self) -> list:
        return [self.evaluation_set.app.slug, self.evaluation_set.name, self.number]

    def get_absolute_url(self) -> str:
        return reverse("evaluation-set-version", args=self._url_args())

    def file_url(self, name: str) -> str:
        return reverse("evaluation-set-file", args=[*self._url_args(), name])


class CustomJudge(models.Model):
    """A manager-defined judge (the reference's `assessment_judges`), fed by feedback reasons."""

    class Type(models.TextChoices):
        ANSWER = "ANSWER", "Answer (one verdict per request)"
        RETRIEVAL = "RETRIEVAL", "Retrieval (one verdict per retrieved chunk)"

    app = models.ForeignKey(App, models.CASCADE, related_name="custom_judges")
    name = models.CharField(max_length=80)
    type = models.CharField(max_length=10, choices=Type.choices)
    definition = models.TextField()
    # Feedback reasons that mean "this judge should say false".
    reasons = models.JSONField(default=list)
    created_by = models.ForeignKey(User, models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["app", "name"], name="customjudge_unique_name")]

    def __str__(self) -> str:
        return self.name


class JudgeExport(MlflowLogged):
    """One judge few-shot export: the YAML config, the table and the trace ids."""

    app = models.ForeignKey(App, models.CASCADE, related_name="judge_exports")
    job = models.OneToOneField(Job, models.PROTECT, related_name="judge_export")
    example_count = models.PositiveIntegerField()
    files = models.JSONField(default=dict)
    relative_dir = models.CharField(max_length=300)
    manifest = models.JSONField(default=dict)
    # MLflow trace ids that carry the examples as HUMAN feedback (filled by the MLflow step).
    trace_ids = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(User, models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def get_absolute_url(self) -> str:
        return reverse("judge-export", args=[self.app.slug, self.pk])

    def file_url(self, name: str) -> str:
        return reverse("judge-export-file", args=[self.app.slug, self.pk, name])

    def examples(self) -> Iterator[dict]:
        """The rows of examples.jsonl, read from the exports storage a line at a time."""
        return files.jsonl_rows(export_storage(), f"{self.relative_dir}/examples.jsonl")
