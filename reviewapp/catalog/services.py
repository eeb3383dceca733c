"""Workflows on apps, their permissions and instructions; each writes its own audit rows.

The rules the fields meet are in rules.py."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from reviewapp.accounts.models import Group, User
from reviewapp.lib.limits import check

from . import rules
from .models import App, AppVersion, Grant, Level, PermissionAudit, ReviewInstructions
from .signals import context_span_changed

# --- who may create apps ---


def can_create_apps(user) -> bool:
    """Staff; with APP_CREATORS=managers also anyone who already manages an app.

    Staff only by default: every app is a place to point the server's outbound requests from.
    """
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff or user.is_superuser:
        return True
    return settings.APP_CREATORS == "managers" and App.objects.managed_by(user).exists()


def who_may_create_apps() -> str:
    """The rule in words, for a refusal."""
    if settings.APP_CREATORS == "managers":
        return "Only staff and managers of an app can create apps"
    return "Only staff can create apps"


# --- apps ---


def create_app(
    *,
    actor: User,
    slug: str,
    name: str,
    description: str = "",
    adapter: str = App.Adapter.DEMO,
    adapter_config: dict | None = None,
    version: str | None = None,
    timeout_seconds: int = 60,
    reasons: list[str] | None = None,
    context_span: str = "",
) -> App:
    """A new app; its creator becomes its first manager (audited like any grant).

    An MLflow model's URI is checked in the tracking store, before the transaction opens; a models:/
    URI gives the version label.
    """
    errors: dict[str, list] = {}
    try:
        slug = rules.clean_slug(slug)
    except ValidationError as exc:
        errors.update(exc.error_dict)
    fields = {
        "name": name,
        "description": description,
        "adapter": adapter,
        "adapter_config": adapter_config,
        "version": "1" if version is None else version,
        "timeout_seconds": timeout_seconds,
        "context_span": context_span,
    }
    if reasons is not None:
        fields["reasons"] = reasons
    try:
        fields = rules.clean_app_fields(fields)
    except ValidationError as exc:
        errors.update(exc.error_dict)
    if errors:
        raise ValidationError(errors)
    _follow_the_model(fields, given=version)
    with transaction.atomic():
        app = App.objects.create(slug=slug, created_by=actor, **fields)
        _record_version(app, actor)
        _set_level(
            actor=actor, app=app, principal=actor.email, user=actor, group=None, level=Level.CAN_MANAGE
        )
    return app


def update_app(*, actor: User, app: App, changes: dict) -> App:
    """Apply `changes` (any of APP_FIELDS); a new version row when the version or adapter changes.

    Only when the chain (adapter, its settings or the version) changes is an MLflow model checked in
    the tracking store, and then a models:/ URI sets the version label: a rename never waits on the
    store nor moves the label. The check runs before the row is locked; should the chain change
    meanwhile, the changes are planned again.
    """
    unknown = sorted(set(changes) - set(rules.APP_FIELDS))
    if unknown:
        raise ValidationError({key: ["not a field that can be changed"] for key in unknown})
    for _ in range(3):
        seen = App.objects.get(pk=app.pk)
        clean = _planned_changes(seen, changes)
        with transaction.atomic():
            app = App.objects.select_for_update().get(pk=app.pk)
            if _chain(app) != _chain(seen):
                continue
            changed = [key for key, value in clean.items() if getattr(app, key) != value]
            if not changed:
                return app
            for key in changed:
                setattr(app, key, clean[key])
            app.updated_at = timezone.now()
            app.save(update_fields=[*changed, "updated_at"])
            if {"version", "adapter", "adapter_config"} & set(changed):
                _record_version(app, actor)
            if "context_span" in changed:
                context_span_changed.send(sender=App, app=app, actor=actor)
            return app
    raise ValidationError(
        {
            "adapter_config": [
                ValidationError("the app's chain was changed meanwhile; try again", code="conflict")
            ]
        }
    )


REGISTRY_LABEL_LEFT = "the version label came from the model registry: give this chain a label of its own"


def _chain(app: App) -> tuple:
    return app.adapter, app.adapter_config, app.version


def _planned_changes(app: App, changes: dict) -> dict:
    """`changes` cleaned against the stored `app`, the model checked when the chain changes."""
    merged = {key: changes.get(key, getattr(app, key)) for key in changes}
    if "adapter" in changes or "adapter_config" in changes:
        merged["adapter"] = changes.get("adapter", app.adapter)
        merged["adapter_config"] = changes.get(
            "adapter_config", app.adapter_config if merged["adapter"] == app.adapter else {}
        )
    if app.adapter == App.Adapter.MLFLOW and "version" in changes and "adapter_config" not in merged:
        merged["adapter"], merged["adapter_config"] = app.adapter, app.adapter_config
    clean = rules.clean_app_fields(merged)
    if "adapter_config" not in clean:
        return clean
    was_registry = app.adapter == App.Adapter.MLFLOW and rules.is_registry_uri(
        (app.adapter_config or {}).get("model_uri", "")
    )
    is_registry = clean["adapter"] == App.Adapter.MLFLOW and rules.is_registry_uri(
        clean["adapter_config"]["model_uri"]
    )
    chain_moves = (clean["adapter"], clean["adapter_config"]) != (app.adapter, app.adapter_config)
    label_moves = is_registry and clean.get("version", app.version) != app.version
    if not chain_moves and not label_moves:
        return clean
    if was_registry and not is_registry and "version" not in changes:
        # The label was the registry's; kept, it would name a version this chain is not.
        raise ValidationError({"version": [REGISTRY_LABEL_LEFT]})
    _follow_the_model(clean, given=changes.get("version"))
    return clean


def _follow_the_model(fields: dict, *, given: str | None) -> None:
    """Check an MLflow model's URI resolves; for a models:/ URI the version label is the registry's.

    A label given with a models:/ URI must be that version: the registry says which one serves.
    """
    if fields.get("adapter") != App.Adapter.MLFLOW:
        return
    uri = fields["adapter_config"]["model_uri"]
    version = rules.resolve_model_uri(uri)
    if version is None:
        return
    if given is not None and str(given).strip() != version:
        raise ValidationError({"version": [rules.registry_version_words(uri, version)]})
    fields["version"] = version


def _record_version(app: App, actor: User) -> AppVersion:
    return AppVersion.objects.create(
        app=app, version=app.version, adapter=app.adapter, adapter_config=app.adapter_config, created_by=actor
    )


@transaction.atomic
def delete_app(*, actor: User, app: App) -> None:
    """Delete the app for everyone: its grants go (each audited) and it is hidden everywhere.

    The row stays, so its request log, feedback and exports are kept; its slug is freed for reuse.
    """
    app = App.objects.select_for_update().get(pk=app.pk)
    for grant in app.grants.select_related("user", "group"):
        PermissionAudit.objects.record(
            actor=actor, app=app, principal=grant.principal, before=Level(grant.level), after=Level.NONE
        )
    app.grants.all().delete()
    app.deleted_at = timezone.now()
    app.slug = f"{app.slug}--deleted-{app.pk}"[:80]
    app.save(update_fields=["deleted_at", "slug"])


# --- permissions ---


def parse_principal(text: str) -> tuple[str, str]:
    """("user", email) or ("group", name) for `someone@example.com` / `group:name`."""
    text = (text or "").strip() if isinstance(text, str) else ""
    kind, sep, rest = text.partition(":")
    if sep and kind.lower() == "group":
        name = rest.strip()
        if not name or len(name) > 200:
            raise ValueError(f"{text!r}: a group is written group:<name>, e.g. group:support-team")
        return "group", name
    if sep and kind.lower() == "user":
        text = rest.strip()
    try:
        if len(text) > 254:
            raise ValidationError("too long")
        validate_email(text)
    except ValidationError:
        raise ValueError(
            f"{text!r} is neither an email address nor group:<name> (e.g. group:support-team)"
        ) from None
    return "user", text.lower()


def _set_level(*, actor, app: App, principal: str, user, group, level: Level) -> bool:
    grant = Grant.objects.filter(app=app, user=user, group=group).first()
    before = Level(grant.level) if grant else Level.NONE
    if before == level:
        return False
    if level == Level.NONE:
        grant.delete()
    elif grant is None:
        Grant.objects.create(app=app, user=user, group=group, level=level)
    else:
        grant.level = level
        grant.save(update_fields=["level"])
    PermissionAudit.objects.record(actor=actor, app=app, principal=principal, before=before, after=level)
    return True


@transaction.atomic
def set_permissions(*, actor: User, app: App, principals: list[str], level: Level | str) -> list[Grant]:
    """Give every principal `level` (NONE removes their grant); all or nothing.

    A never-seen email gets a placeholder account that SSO or SCIM later claims; a group named
    here that does not exist yet is created, so it can be granted before its first member signs in.
    """
    errors: dict[str, list[str]] = {}
    try:
        level = level if isinstance(level, Level) else Level.parse(level)
    except ValueError as exc:
        errors["level"] = [str(exc)]
    if not isinstance(principals, list | tuple) or not principals:
        errors["principals"] = ["give at least one principal: an email address or group:<name>"]
        raise ValidationError(errors)
    check(errors, "principals", principals, rules.PRINCIPALS)
    if "principals" in errors:
        raise ValidationError(errors)
    parsed = []
    for text in principals:
        try:
            parsed.append(parse_principal(text))
        except ValueError as exc:
            errors.setdefault("principals", []).append(str(exc))
    if errors:
        raise ValidationError(errors)
    app = App.objects.select_for_update().get(pk=app.pk)
    had_manager = app.active_managers().exists()
    for kind, key in dict.fromkeys(parsed):
        if kind == "user":
            user = User.objects.filter(email__iexact=key).first()
            if user is None and level == Level.NONE:
                continue
            user = user or User.objects.placeholder(key)
            _set_level(actor=actor, app=app, principal=user.email, user=user, group=None, level=level)
        else:
            group = Group.objects.filter(name=key).first()
            if group is None and level == Level.NONE:
                continue
            group = group or Group.objects.create(name=key)
            _set_level(
                actor=actor, app=app, principal=f"group:{group.name}", user=None, group=group, level=level
            )
    if had_manager and not app.active_managers().exists():
        # Raising rolls the whole change back, audit rows included.
        raise ValidationError(
            {"level": ["this would leave the app without a manager; grant CAN_MANAGE to someone else first"]}
        )
    return list(app.grants.select_related("user", "group"))


def grants_of(app: App):
    """The app's grants, managers first, for the permissions page and the API."""
    return app.grants.select_related("user", "group").order_by("-level", "group__name", "user__email")


# --- instructions ---


@transaction.atomic
def set_review_instructions(*, actor: User, app: App, markdown: str) -> ReviewInstructions:
    """A new version of the app's reviewer instructions (unchanged text keeps the current one)."""
    markdown = rules.clean_markdown(markdown)
    app = App.objects.select_for_update().get(pk=app.pk)
    current = app.current_instructions()
    if current is not None and current.markdown == markdown:
        return current
    version = (app.instructions.aggregate(v=Max("version"))["v"] or 0) + 1
    return ReviewInstructions.objects.create(app=app, version=version, markdown=markdown, created_by=actor)
