"""Workflows on apps, their permissions and instructions; each writes its own audit rows."""

import re
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from reviewapp.accounts.models import Group, User
from reviewapp.chains import egress

from .models import App, AppVersion, Grant, Level, PermissionAudit, ReviewInstructions

MAX_INSTRUCTIONS_CHARS = 100_000
MAX_DESCRIPTION_CHARS = 10_000
MAX_REASONS = 30
MAX_REASON_CHARS = 100
# What a reasons list may hold before cleaning (blank lines, duplicates, "other" are dropped).
MAX_REASONS_GIVEN = 200
MAX_PRINCIPALS = 200
MAX_TIMEOUT_SECONDS = 600
MAX_ADAPTER_SETTINGS = 10
MAX_SETTING_CHARS = 2000
# /apps/new/ is the create page, so "new" cannot be an app's slug.
RESERVED_SLUGS = {"new"}
ENDPOINT_KINDS = ("openai", "mlflow")
ADAPTER_KEYS = {
    App.Adapter.DEMO: set(),
    App.Adapter.MLFLOW: {"model_uri"},
    App.Adapter.HTTP: {"url", "kind", "model", "secret_header", "secret_env"},
}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_MODEL_URI = re.compile(r"^(models:/[^/@]+(/[^/]+|@[^/]+)|runs:/[^/]+/.+)$")
APP_FIELDS = ("name", "description", "adapter", "adapter_config", "version", "timeout_seconds", "reasons")


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


# --- validation shared by the forms and the API ---


def clean_adapter_config(adapter: str, config: dict | None) -> dict:
    """The adapter settings, normalised; errors are keyed `adapter_config.<key>`."""
    if not isinstance(config, dict | None):
        raise ValidationError({"adapter_config": ["must be an object of settings"]})
    # Sizes before anything else: the keys are echoed back in errors.
    if config and len(config) > MAX_ADAPTER_SETTINGS:
        raise ValidationError({"adapter_config": [f"at most {MAX_ADAPTER_SETTINGS} settings"]})
    config = dict(config or {})
    errors: dict[str, list[str]] = {}
    if adapter not in App.Adapter.values:
        raise ValidationError(
            {"adapter": [f"unknown adapter {adapter!r}; use one of {', '.join(App.Adapter.values)}"]}
        )
    for key in sorted(set(config) - ADAPTER_KEYS[adapter]):
        if key.lower() in {"secret", "api_key", "token", "password", "secret_value"}:
            errors[f"adapter_config.{key}"] = [
                "secrets are never stored: put the secret in an environment variable of the server "
                "and give that variable's name in secret_env"
            ]
        else:
            allowed = ", ".join(sorted(ADAPTER_KEYS[adapter])) or "none"
            errors[f"adapter_config.{key}"] = [f"not a setting of the {adapter} adapter (allowed: {allowed})"]
    clean: dict[str, str] = {}
    for key in ADAPTER_KEYS[adapter]:
        value = config.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            errors[f"adapter_config.{key}"] = ["must be a string"]
            continue
        if len(value) > MAX_SETTING_CHARS:
            errors[f"adapter_config.{key}"] = [f"at most {MAX_SETTING_CHARS} characters"]
            continue
        if value.strip():
            clean[key] = value.strip()
    if adapter == App.Adapter.MLFLOW:
        uri = clean.get("model_uri", "")
        if not uri:
            errors.setdefault("adapter_config.model_uri", ["an MLflow model needs a model URI"])
        elif not _MODEL_URI.match(uri):
            errors["adapter_config.model_uri"] = [
                "use models:/name/version, models:/name@alias or runs:/run_id/path"
            ]
    if adapter == App.Adapter.HTTP:
        url = clean.get("url", "")
        parsed = urlparse(url)
        if not url:
            errors.setdefault("adapter_config.url", ["an HTTP endpoint needs a URL"])
        elif parsed.scheme not in {"http", "https"} or not parsed.netloc:
            errors["adapter_config.url"] = ["must be an http:// or https:// URL"]
        elif refusal := egress.url_refusal(url):
            errors["adapter_config.url"] = [f"this server may not call that address: {refusal}"]
        clean.setdefault("kind", "openai")
        if clean["kind"] not in ENDPOINT_KINDS:
            errors["adapter_config.kind"] = [f"use one of {', '.join(ENDPOINT_KINDS)}"]
        header, env = clean.get("secret_header", ""), clean.get("secret_env", "")
        if header and not _HEADER_NAME.match(header):
            errors["adapter_config.secret_header"] = ["not a valid HTTP header name"]
        if env and not _ENV_NAME.match(env):
            errors["adapter_config.secret_env"] = [
                "the NAME of an environment variable (letters, digits, underscore), not the secret"
            ]
        elif env and (refusal := egress.secret_name_refusal(env)):
            errors["adapter_config.secret_env"] = [refusal]
        if bool(header) != bool(env):
            key = "adapter_config.secret_env" if header else "adapter_config.secret_header"
            errors.setdefault(
                key, ["give both the secret header name and the environment variable, or neither"]
            )
    if errors:
        raise ValidationError(errors)
    return clean


def clean_reasons(reasons) -> list[str]:
    # Sizes first, so an oversized list is refused before any work per item.
    if not isinstance(reasons, list):
        raise ValidationError({"reasons": ["must be a list of strings"]})
    if len(reasons) > MAX_REASONS_GIVEN:
        raise ValidationError({"reasons": [f"at most {MAX_REASONS} reasons ({len(reasons):,} given)"]})
    if not all(isinstance(r, str) for r in reasons):
        raise ValidationError({"reasons": ["must be a list of strings"]})
    if sum(map(len, reasons)) > MAX_REASONS_GIVEN * MAX_REASON_CHARS:
        raise ValidationError({"reasons": [f"each reason has at most {MAX_REASON_CHARS} characters"]})
    clean: list[str] = []
    seen: set[str] = set()
    for reason in (r.strip() for r in reasons):
        if not reason or reason in seen:
            continue
        seen.add(reason)
        if len(reason) > MAX_REASON_CHARS:
            raise ValidationError({"reasons": [f"each reason has at most {MAX_REASON_CHARS} characters"]})
        if reason.lower() == "other":
            # "other" with free text is always offered by the feedback form.
            continue
        clean.append(reason)
    if len(clean) > MAX_REASONS:
        raise ValidationError({"reasons": [f"at most {MAX_REASONS} reasons"]})
    return clean


def _clean_app_fields(fields: dict) -> dict:
    errors: dict[str, list[str]] = {}
    clean = dict(fields)
    if "name" in fields:
        clean["name"] = (fields["name"] or "").strip()
        if not clean["name"]:
            errors["name"] = ["an app needs a name"]
        elif len(clean["name"]) > 200:
            errors["name"] = ["at most 200 characters"]
    if "version" in fields:
        clean["version"] = str(fields["version"] or "").strip()
        if not clean["version"]:
            errors["version"] = ["give a version label, e.g. 1 or 2024-06-rc1"]
        elif len(clean["version"]) > 100:
            errors["version"] = ["at most 100 characters"]
    if "timeout_seconds" in fields:
        timeout = fields["timeout_seconds"]
        if (
            not isinstance(timeout, int)
            or isinstance(timeout, bool)
            or not 1 <= timeout <= MAX_TIMEOUT_SECONDS
        ):
            errors["timeout_seconds"] = [f"a whole number of seconds from 1 to {MAX_TIMEOUT_SECONDS}"]
    if "description" in fields:
        clean["description"] = (fields["description"] or "").strip()
        if len(clean["description"]) > MAX_DESCRIPTION_CHARS:
            errors["description"] = [f"at most {MAX_DESCRIPTION_CHARS} characters"]
    for key, check in (("reasons", clean_reasons),):
        if key in fields:
            try:
                clean[key] = check(fields[key])
            except ValidationError as exc:
                errors.update(exc.message_dict)
    if "adapter" in fields or "adapter_config" in fields:
        try:
            clean["adapter_config"] = clean_adapter_config(fields["adapter"], fields.get("adapter_config"))
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return clean


# --- apps ---


@transaction.atomic
def create_app(
    *,
    actor: User,
    slug: str,
    name: str,
    description: str = "",
    adapter: str = App.Adapter.DEMO,
    adapter_config: dict | None = None,
    version: str = "1",
    timeout_seconds: int = 60,
    reasons: list[str] | None = None,
) -> App:
    """A new app; its creator becomes its first manager (audited like any grant)."""
    slug = (slug or "").strip().lower()
    errors: dict[str, list[str]] = {}
    try:
        validate_slug(slug)
    except ValidationError:
        errors["slug"] = ["letters, digits, hyphens and underscores only, e.g. docs-assistant"]
    if slug in RESERVED_SLUGS:
        errors["slug"] = [f"{slug!r} is reserved; pick another slug"]
    elif len(slug) > 80:
        errors["slug"] = ["at most 80 characters"]
    elif App.objects.filter(slug=slug).exists():
        errors["slug"] = [ValidationError(f"an app with slug {slug!r} already exists", code="conflict")]
    fields = {
        "name": name,
        "description": description,
        "adapter": adapter,
        "adapter_config": adapter_config,
        "version": version,
        "timeout_seconds": timeout_seconds,
    }
    if reasons is not None:
        fields["reasons"] = reasons
    try:
        fields = _clean_app_fields(fields)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    app = App.objects.create(slug=slug, created_by=actor, **fields)
    _record_version(app, actor)
    _set_level(actor=actor, app=app, principal=actor.email, user=actor, group=None, level=Level.CAN_MANAGE)
    return app


@transaction.atomic
def update_app(*, actor: User, app: App, changes: dict) -> App:
    """Apply `changes` (any of APP_FIELDS); a new version row when the version or adapter changes."""
    unknown = sorted(set(changes) - set(APP_FIELDS))
    if unknown:
        raise ValidationError({key: ["not a field that can be changed"] for key in unknown})
    app = App.objects.select_for_update().get(pk=app.pk)
    merged = {key: changes.get(key, getattr(app, key)) for key in changes}
    if "adapter" in changes or "adapter_config" in changes:
        merged["adapter"] = changes.get("adapter", app.adapter)
        merged["adapter_config"] = changes.get(
            "adapter_config", app.adapter_config if merged["adapter"] == app.adapter else {}
        )
    clean = _clean_app_fields(merged)
    changed = [key for key, value in clean.items() if getattr(app, key) != value]
    if not changed:
        return app
    for key in changed:
        setattr(app, key, clean[key])
    app.updated_at = timezone.now()
    app.save(update_fields=[*changed, "updated_at"])
    if {"version", "adapter", "adapter_config"} & set(changed):
        _record_version(app, actor)
    return app


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
        _audit(actor=actor, app=app, principal=grant.principal, before=Level(grant.level), after=Level.NONE)
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


def _audit(*, actor: User | None, app: App, principal: str, before: Level, after: Level) -> PermissionAudit:
    return PermissionAudit.objects.create(
        app=app,
        app_slug=app.slug,
        actor=actor,
        actor_email=getattr(actor, "email", "") or "",
        principal=principal,
        before=Level(before).label,
        after=Level(after).label,
    )


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
    _audit(actor=actor, app=app, principal=principal, before=before, after=level)
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
    if len(principals) > MAX_PRINCIPALS:
        errors["principals"] = [f"at most {MAX_PRINCIPALS} principals at once ({len(principals):,} given)"]
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
    if not isinstance(markdown, str):
        raise ValidationError({"markdown": ["must be a string of Markdown"]})
    if len(markdown) > MAX_INSTRUCTIONS_CHARS:
        raise ValidationError({"markdown": [f"at most {MAX_INSTRUCTIONS_CHARS} characters"]})
    app = App.objects.select_for_update().get(pk=app.pk)
    current = app.current_instructions()
    if current is not None and current.markdown == markdown:
        return current
    version = (app.instructions.aggregate(v=Max("version"))["v"] or 0) + 1
    return ReviewInstructions.objects.create(app=app, version=version, markdown=markdown, created_by=actor)
