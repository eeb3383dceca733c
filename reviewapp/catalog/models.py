from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Max, Q
from django.utils import timezone

from reviewapp.accounts.models import Group, User


class Level(models.IntegerChoices):
    """Permission levels on an app; each includes the ones below it."""

    NONE = 0, "NONE"
    CAN_VIEW = 1, "CAN_VIEW"
    CAN_QUERY = 2, "CAN_QUERY"
    CAN_MANAGE = 3, "CAN_MANAGE"

    @property
    def words(self) -> str:
        """The level as people read it ("Can manage"); the labels are the API's names."""
        return "No access" if self == Level.NONE else self.name.replace("_", " ").capitalize()

    @classmethod
    def parse(cls, name: str) -> "Level":
        try:
            return cls[str(name).upper()]
        except KeyError:
            valid = ", ".join(cls.names)
            raise ValueError(f"unknown permission level {name!r}; use one of {valid}") from None


DEFAULT_REASONS = [
    "inaccurate",
    "incomplete",
    "not grounded in the sources",
    "irrelevant",
    "harmful or unsafe",
    "badly formatted",
]


def default_reasons() -> list[str]:
    return list(DEFAULT_REASONS)


MAX_LINKED_EXPERIMENTS = 50


def validate_experiment_refs(value) -> None:
    """A list of MLflow experiment ids or names, each given once."""
    if not isinstance(value, list) or not all(isinstance(ref, str) and ref.strip() for ref in value):
        raise ValidationError("give a list of experiment ids or names")
    if len(value) > MAX_LINKED_EXPERIMENTS:
        raise ValidationError(f"at most {MAX_LINKED_EXPERIMENTS} experiments")
    if any(len(ref) > 500 for ref in value):
        raise ValidationError("an experiment id or name is at most 500 characters")


class AppQuerySet(models.QuerySet):
    def with_level(self, user):
        """Annotate `level`: the user's effective level (highest of own and groups' grants)."""
        if not user.is_authenticated or not user.is_active:
            # Still annotated, so callers can filter on `level` whoever asks.
            return self.annotate(
                level=models.Value(int(Level.NONE), output_field=models.IntegerField())
            ).none()
        qs = self.alive()
        if user.is_staff or user.is_superuser:
            return qs.annotate(level=models.Value(int(Level.CAN_MANAGE), output_field=models.IntegerField()))
        grant_filter = Q(grants__user=user) | Q(grants__group__user_set=user)
        return qs.annotate(level=Max("grants__level", filter=grant_filter))

    def alive(self):
        """Apps not deleted (a deleted app is hidden, its records kept)."""
        return self.filter(deleted_at__isnull=True)

    def visible_to(self, user):
        qs = self.with_level(user)
        if user.is_authenticated and (user.is_staff or user.is_superuser):
            return qs
        return qs.filter(level__gte=Level.CAN_VIEW)

    def managed_by(self, user):
        """Apps on which `user` has CAN_MANAGE through their own or a group's grant."""
        return self.with_level(user).filter(level__gte=Level.CAN_MANAGE)


class App(models.Model):
    class Adapter(models.TextChoices):
        DEMO = "demo", "Demo chain"
        MLFLOW = "mlflow", "MLflow model"
        HTTP = "http", "HTTP endpoint"

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    adapter = models.CharField(max_length=20, choices=Adapter.choices, default=Adapter.DEMO)
    # Adapter settings: {"model_uri": ...} or {"url": ..., "kind": "openai"|"mlflow",
    # "model": ..., "secret_header": "Authorization", "secret_env": "ENV_NAME"}; never a secret in clear.
    adapter_config = models.JSONField(default=dict, blank=True)
    version = models.CharField(max_length=100, default="1")
    timeout_seconds = models.PositiveIntegerField(default=60)
    # The span whose documents are "what the model saw", rated and exported; blank: a reranker span
    # when the trace has one, else every RETRIEVER span.
    context_span = models.CharField(max_length=200, blank=True)
    # The feedback form: the reasons a reviewer can pick (plus "other" with text).
    reasons = models.JSONField(default=default_reasons, blank=True)
    # Prices of the chain's model per 1,000 tokens, for the dashboard's estimated cost; blank: none.
    price_input_per_1k = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    price_output_per_1k = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    # Questions offered on an empty chat, for reviewers who do not know what to ask first.
    example_questions = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(User, models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Deleting hides the app but keeps its request log and feedback (records are never lost).
    deleted_at = models.DateTimeField(null=True, blank=True)
    # MLflow experiments (ids or names) this app may import traces from besides its own; set by staff
    # only, since an experiment can hold other apps' conversations.
    linked_experiments = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_experiment_refs],
        help_text="MLflow experiment ids or names this app may import traces from, besides its own.",
    )
    # [[judge id, percent], ...]: the judges that sample this app's new turns, copied here by
    # judges.online.keep_sampling so that logging a turn needs no query to know them.
    sampling_judges = models.JSONField(default=list, blank=True, editable=False)

    objects = AppQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def mlflow_experiment_name(self) -> str:
        """The app's own MLflow experiment (exports are logged there; imports may read it)."""
        return f"reviewapp/{self.slug}"

    def importable_experiment_refs(self) -> list[str]:
        """The experiments, by id or name as given, this app may import from: its own, then linked ones."""
        return list(dict.fromkeys([self.mlflow_experiment_name(), *(self.linked_experiments or [])]))

    def current_instructions(self) -> "ReviewInstructions | None":
        return self.instructions.order_by("-version").first()

    def level_for(self, user) -> Level:
        if not user.is_authenticated or not user.is_active or self.deleted_at:
            return Level.NONE
        if user.is_staff or user.is_superuser:
            return Level.CAN_MANAGE
        best = (
            self.grants.filter(Q(user=user) | Q(group__user_set=user)).aggregate(m=Max("level"))["m"]
            or Level.NONE
        )
        return Level(best)

    def members(self, at_least: Level):
        """Active users granted `at_least` that level (their own grant or a group's); staff aside."""
        grant = Q(grants__app=self, grants__level__gte=at_least)
        group_grant = Q(scim_groups__grants__app=self, scim_groups__grants__level__gte=at_least)
        return User.objects.filter(is_active=True).filter(grant | group_grant).distinct()

    def active_managers(self):
        return self.members(Level.CAN_MANAGE)


class AppVersion(models.Model):
    """Which version of the chain served when (a row per change)."""

    app = models.ForeignKey(App, models.CASCADE, related_name="versions")
    version = models.CharField(max_length=100)
    adapter = models.CharField(max_length=20, choices=App.Adapter.choices)
    adapter_config = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-started_at", "-id"]


class Grant(models.Model):
    """A permission level on an app for one user or one group."""

    app = models.ForeignKey(App, models.CASCADE, related_name="grants")
    user = models.ForeignKey(User, models.CASCADE, null=True, blank=True, related_name="grants")
    group = models.ForeignKey(Group, models.CASCADE, null=True, blank=True, related_name="grants")
    level = models.IntegerField(choices=Level.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(user__isnull=False, group__isnull=True) | Q(user__isnull=True, group__isnull=False)
                ),
                name="grant_one_principal",
            ),
            models.UniqueConstraint(fields=["app", "user"], name="grant_unique_user"),
            models.UniqueConstraint(fields=["app", "group"], name="grant_unique_group"),
        ]

    @property
    def principal(self) -> str:
        return self.user.email if self.user_id else f"group:{self.group.name}"


class PermissionAuditQuerySet(models.QuerySet):
    def record(
        self, *, actor, app: App, principal: str, before: Level, after: Level, system: str = ""
    ) -> "PermissionAudit":
        """The one writer of audit rows: `principal`'s level on `app` went from `before` to `after`,
        changed by `actor`, or with no actor by the `system` named (e.g. "SCIM provisioning")."""
        return self.create(
            app=app,
            app_slug=app.slug,
            actor=actor,
            actor_email=getattr(actor, "email", "") or system,
            principal=principal,
            before=Level(before).label,
            after=Level(after).label,
        )


class PermissionAudit(models.Model):
    """Append-only: who changed which principal's level on which app, from what to what."""

    app = models.ForeignKey(App, models.SET_NULL, null=True, related_name="audit")
    app_slug = models.CharField(max_length=80)
    actor = models.ForeignKey(User, models.SET_NULL, null=True, related_name="+")
    actor_email = models.CharField(max_length=254, blank=True)
    principal = models.CharField(max_length=300)
    before = models.CharField(max_length=20)
    after = models.CharField(max_length=20)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = PermissionAuditQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]


class ReviewInstructions(models.Model):
    """Versioned Markdown instructions for reviewers; the newest version is in force."""

    app = models.ForeignKey(App, models.CASCADE, related_name="instructions")
    version = models.PositiveIntegerField()
    markdown = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["app", "version"], name="instructions_unique_version")]
