"""The rules an app's settings meet: each limit and its words defined once, here.

The services run them for the HTML forms and the API alike; the API's serializers list the same
validators, so the OpenAPI schema shows each limit and an early refusal says the same thing.
"""

import logging
import re
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from decimal import Decimal, InvalidOperation
from urllib.parse import urlparse

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, validate_slug

from reviewapp.chains import egress
from reviewapp.lib.limits import MaxChars, MaxItems, check, is_whole_number, refuse_broken, whole_number

from .models import App

logger = logging.getLogger(__name__)

MAX_NAME_CHARS = App._meta.get_field("name").max_length
MAX_SLUG_CHARS = App._meta.get_field("slug").max_length
MAX_VERSION_CHARS = App._meta.get_field("version").max_length
MAX_CONTEXT_SPAN_CHARS = App._meta.get_field("context_span").max_length
MAX_INSTRUCTIONS_CHARS = 100_000
MAX_DESCRIPTION_CHARS = 10_000
MAX_REASONS = 30
MAX_REASON_CHARS = 100
# What a reasons list may hold before cleaning (blank lines, duplicates, "other" are dropped).
MAX_REASONS_GIVEN = 200
MAX_PRINCIPALS = 200
MAX_EXAMPLE_QUESTIONS = 10
MAX_EXAMPLE_QUESTION_CHARS = 300
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
APP_FIELDS = (
    "name",
    "description",
    "adapter",
    "adapter_config",
    "version",
    "timeout_seconds",
    "reasons",
    "context_span",
    "price_input_per_1k",
    "price_output_per_1k",
    "example_questions",
)
PRICE_FIELDS = ("price_input_per_1k", "price_output_per_1k")
_PRICE_COLUMN = App._meta.get_field("price_input_per_1k")
PRICE_DECIMALS = _PRICE_COLUMN.decimal_places
PRICE_STEP = Decimal(10) ** -PRICE_DECIMALS
# The most the column holds: 999,999.999999 (12 digits, 6 of them decimals).
MAX_PRICE = Decimal(10) ** (_PRICE_COLUMN.max_digits - PRICE_DECIMALS) - PRICE_STEP
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")

# One validator list per field: the services run them, the serializers declare them.
NAME = [MaxChars(MAX_NAME_CHARS)]
SLUG = [MaxChars(MAX_SLUG_CHARS)]
VERSION = [MaxChars(MAX_VERSION_CHARS)]
DESCRIPTION = [MaxChars(MAX_DESCRIPTION_CHARS)]
CONTEXT_SPAN = [
    MaxChars(MAX_CONTEXT_SPAN_CHARS),
    RegexValidator(r"^[^\x00-\x1f\x7f]*$", "a span name: one line of plain text, without control characters"),
]
INSTRUCTIONS = [MaxChars(MAX_INSTRUCTIONS_CHARS)]
REASON = [MaxChars(MAX_REASON_CHARS, "each reason has at most %(limit_value)d characters")]
REASONS = [MaxItems(MAX_REASONS_GIVEN, f"at most {MAX_REASONS} reasons ({{given}} given)")]
REASONS_KEPT = [MaxItems(MAX_REASONS, "at most {limit} reasons ({given} given)")]
EXAMPLE_QUESTION = [
    MaxChars(MAX_EXAMPLE_QUESTION_CHARS, "each example question has at most %(limit_value)d characters")
]
EXAMPLE_QUESTIONS = [MaxItems(MAX_EXAMPLE_QUESTIONS, "at most {limit} example questions ({given} given)")]
SETTINGS = [MaxItems(MAX_ADAPTER_SETTINGS, "at most {limit} settings")]
SETTING = [MaxChars(MAX_SETTING_CHARS)]
PRINCIPALS = [MaxItems(MAX_PRINCIPALS, "at most {limit} principals at once ({given} given)")]
TIMEOUT = whole_number(1, MAX_TIMEOUT_SECONDS, f"a whole number of seconds from 1 to {MAX_TIMEOUT_SECONDS}")
PRICE_WORDS = (
    f"a price per 1,000 tokens: a number from 0 to {MAX_PRICE:,}, with at most {PRICE_DECIMALS} decimals "
    "(blank: no price)"
)
# The text the API takes for a price, besides blank (the form takes any number; clean_price says
# what is wrong with it).
# [0-9], not \d: Python's \d also takes other scripts' digits, the schema's (ECMAScript) does not.
PRICE_PATTERN = rf"^[0-9]{{1,{len(str(int(MAX_PRICE)))}}}(\.[0-9]{{1,{PRICE_DECIMALS}}})?$"
# The pattern as the API's serializer checks it: Python's "$" would also take a final newline.
PRICE_TEXT = [RegexValidator(re.compile(PRICE_PATTERN.removesuffix("$") + r"\Z"), PRICE_WORDS)]
PRICE_HELP = (
    "What the chain's model costs per 1,000 tokens, in the currency of your choice, for the dashboard's "
    "estimated cost; blank: no price."
)
SLUG_WORDS = "letters, digits, hyphens and underscores only, e.g. docs-assistant"
CONTEXT_SPAN_WORDS = (
    "The name of the span whose documents are what the model saw (rated and exported). "
    "Blank: a reranker span when the trace has one, else every retriever span. "
    "A change sums the dashboard figures from chunk ratings again, in a background job: until it has run, "
    "feedback given before the change is counted with the old span."
)
VERSION_FROM_REGISTRY = (
    "For a models:/ URI the label is the model's version in the registry (an alias: the version "
    "it pointed at when the URI was set); for other chains it is yours to set."
)


def clean_slug(slug: str) -> str:
    """The slug, lower-cased; ValidationError({"slug": ...}) unless it could name a new app."""
    slug = (slug or "").strip().lower()
    errors: dict[str, list] = {}
    try:
        validate_slug(slug)
    except ValidationError:
        errors["slug"] = [SLUG_WORDS]
    if slug in RESERVED_SLUGS:
        errors["slug"] = [f"{slug!r} is reserved; pick another slug"]
    elif "slug" not in errors:
        check(errors, "slug", slug, SLUG)
    if not errors and App.objects.filter(slug=slug).exists():
        errors["slug"] = [ValidationError(f"an app with slug {slug!r} already exists", code="conflict")]
    if errors:
        raise ValidationError(errors)
    return slug


def clean_text(errors: dict, fields: dict, key: str, validators: list, *, missing: str = "") -> None:
    """fields[key] stripped, checked by `validators` (and not blank, when `missing` says why)."""
    if key not in fields:
        return
    value = fields[key]
    value = ("" if value is None else str(value)).strip()
    fields[key] = value
    if missing and not value:
        errors[key] = [missing]
    else:
        check(errors, key, value, validators)


def clean_adapter_config(adapter: str, config: dict | None) -> dict:
    """The adapter settings, normalised; errors are keyed `adapter_config.<key>`."""
    if not isinstance(config, dict | None):
        raise ValidationError({"adapter_config": ["must be an object of settings"]})
    config = dict(config or {})
    # Sizes before anything else: the keys are echoed back in errors.
    refuse_broken("adapter_config", config, SETTINGS)
    errors: dict[str, list] = {}
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
        check(errors, f"adapter_config.{key}", value, SETTING)
        if f"adapter_config.{key}" in errors:
            continue
        if value.strip():
            clean[key] = value.strip()
    if adapter == App.Adapter.MLFLOW:
        uri = clean.get("model_uri", "")
        if not uri:
            errors.setdefault("adapter_config.model_uri", ["an MLflow model needs a model URI"])
        else:
            try:
                parse_model_uri(uri)
            except ValidationError as exc:
                errors.update(exc.message_dict)
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
    """The reasons a reviewer can pick: stripped, without blanks, duplicates or "other"."""
    # Sizes first, so an oversized list is refused before any work per item.
    if not isinstance(reasons, list):
        raise ValidationError({"reasons": ["must be a list of strings"]})
    refuse_broken("reasons", reasons, REASONS)
    if not all(isinstance(r, str) for r in reasons):
        raise ValidationError({"reasons": ["must be a list of strings"]})
    if sum(map(len, reasons)) > MAX_REASONS_GIVEN * MAX_REASON_CHARS:
        refuse_broken("reasons", max(reasons, key=len), REASON)
    clean: list[str] = []
    seen: set[str] = set()
    for reason in (r.strip() for r in reasons):
        if not reason or reason in seen:
            continue
        seen.add(reason)
        refuse_broken("reasons", reason, REASON)
        if reason.lower() == "other":
            # "other" with free text is always offered by the feedback form.
            continue
        clean.append(reason)
    refuse_broken("reasons", clean, REASONS_KEPT)
    return clean


def clean_example_questions(questions) -> list[str]:
    """The questions offered on an empty chat: stripped, one line each, without blanks or duplicates."""
    words = "must be a list of questions (text)"
    if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
        raise ValidationError({"example_questions": [words]})
    clean: list[str] = []
    for question in (" ".join(q.split()) for q in questions):
        if not question or question in clean:
            continue
        refuse_broken("example_questions", question, EXAMPLE_QUESTION)
        if "\x00" in question or any("\ud800" <= char <= "\udfff" for char in question):
            raise ValidationError(
                {"example_questions": ["a question cannot hold NUL or unpaired surrogates"]}
            )
        clean.append(question)
    refuse_broken("example_questions", clean, EXAMPLE_QUESTIONS)
    return clean


def clean_price(value) -> Decimal | None:
    """A price per 1,000 tokens as a Decimal (None for blank); ValidationError(PRICE_WORDS) otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise ValidationError(PRICE_WORDS)
    try:
        # A float by its shortest text: 0.1 is 0.1, not 0.1000000000000000055...
        price = Decimal(str(value).strip() if isinstance(value, float | str) else value)
    except (InvalidOperation, ValueError):
        raise ValidationError(PRICE_WORDS) from None
    # Trailing zeros are no decimals: 0.50000000 is 0.5.
    if (
        not price.is_finite()
        or not 0 <= price <= MAX_PRICE
        or price.normalize().as_tuple().exponent < -PRICE_DECIMALS
    ):
        raise ValidationError(PRICE_WORDS)
    # + 0 turns -0 into 0: a sign on nothing would be stored and answered as "-0.000000".
    return price.quantize(PRICE_STEP) + 0


def clean_app_fields(fields: dict) -> dict:
    """The given app fields cleaned; ValidationError naming each field that breaks a rule."""
    errors: dict[str, list] = {}
    clean = dict(fields)
    clean_text(errors, clean, "name", NAME, missing="an app needs a name")
    clean_text(errors, clean, "version", VERSION, missing="give a version label, e.g. 1 or 2024-06-rc1")
    clean_text(errors, clean, "description", DESCRIPTION)
    clean_text(errors, clean, "context_span", CONTEXT_SPAN)
    if "timeout_seconds" in fields:
        timeout = fields["timeout_seconds"]
        if is_whole_number(timeout):
            check(errors, "timeout_seconds", timeout, TIMEOUT)
        else:
            errors["timeout_seconds"] = [TIMEOUT[0].message]
    for key in PRICE_FIELDS:
        if key in fields:
            try:
                clean[key] = clean_price(fields[key])
            except ValidationError as exc:
                errors[key] = exc.messages
    if "reasons" in fields:
        try:
            clean["reasons"] = clean_reasons(fields["reasons"])
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "example_questions" in fields:
        try:
            clean["example_questions"] = clean_example_questions(fields["example_questions"])
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


def is_registry_uri(uri: str) -> bool:
    return uri.startswith("models:/")


# How long a save waits for the tracking store: MLflow's HTTP client retries for minutes (7 tries,
# a 120 s timeout each), and a manager's save must not hold a web worker that long.
CHECK_SECONDS = 10
# Checks that gave up waiting run on until MLflow gives up too; past this many, saves are refused
# at once rather than piling up threads.
MAX_CHECKS_UNDER_WAY = 4
_checks_under_way = threading.BoundedSemaphore(MAX_CHECKS_UNDER_WAY)
UNCHECKED = "the model URI could not be checked"


def registry_version_words(uri: str, version: str) -> str:
    """Why a version label other than the registry's is refused for a models:/ URI."""
    return (
        f"{uri} is version {version} in the model registry, and an app on a registry model takes its "
        "version label from there; leave the version out, or point the model URI at the version you mean"
    )


def parse_model_uri(uri: str) -> dict:
    """The URI's parts (mlflow_model.parse_uri, the adapter's own parser); ValidationError on
    `adapter_config.model_uri` when it is not a model URI."""
    from reviewapp.chains import mlflow_model
    from reviewapp.chains.base import ChainError

    try:
        return mlflow_model.parse_uri(uri)
    except ChainError as exc:
        raise ValidationError({"adapter_config.model_uri": [str(exc)]}) from None


def resolve_model_uri(uri: str) -> str | None:
    """Check that an MLflow model URI names a model that exists: its registry version number for a
    models:/ URI (an alias: the version it points at now), None for a runs:/ URI.

    ValidationError on `adapter_config.model_uri` when the model is missing or the tracking store
    cannot be asked; the store gets CHECK_SECONDS to answer. Call it outside any transaction.
    """
    from reviewapp.chains.mlflow_setup import configure

    parts = parse_model_uri(uri)
    # Read here, not on the thread: a check that outlives its request keeps asking the same store.
    tracking_uri = configure().get_tracking_uri()
    if not _checks_under_way.acquire(blocking=False):
        problem = f"{UNCHECKED}: too many checks are waiting for the MLflow tracking store; try again later"
        raise ValidationError({"adapter_config.model_uri": [problem]})
    answer: Future = Future()

    def check() -> None:
        try:
            answer.set_result(_look_up(uri, parts, tracking_uri))
        except BaseException as exc:
            answer.set_exception(exc)
        finally:
            _checks_under_way.release()

    # A daemon thread, not an executor's: one that is still waiting on MLflow must not hold up the
    # process when it exits.
    threading.Thread(target=check, name="model URI check", daemon=True).start()
    try:
        return answer.result(timeout=CHECK_SECONDS)
    except FutureTimeout:
        problem = f"{UNCHECKED}: the MLflow tracking store did not answer within {CHECK_SECONDS} s"
    except _Refused as exc:
        problem = str(exc)
    except Exception as exc:
        problem = _why_unchecked(uri, exc)
    raise ValidationError({"adapter_config.model_uri": [problem]})


class _Refused(Exception):
    """The tracking store answered: the URI names no model. Its text is for the user."""


def _look_up(uri: str, parts: dict, tracking_uri: str) -> str | None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    from reviewapp.chains.mlflow_model import registry_version

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        if "run_id" in parts:
            return _check_run_model(parts, tracking_uri)
        version = registry_version(client, parts)
        if version is None:
            raise _Refused(f"{uri} is not in the model registry: it has no versions")
        return version
    except MlflowException as exc:
        # The store's own "not found" names only what was asked for; other failures may name
        # its addresses or folders, so they are logged, not shown.
        if exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            found = "cannot be used" if "run_id" in parts else "is not in the model registry"
            raise _Refused(f"{uri} {found}: {_first_line(exc)}") from None
        raise


def _check_run_model(parts: dict, tracking_uri: str) -> None:
    from mlflow.artifacts import list_artifacts

    run_id, path = parts["run_id"], parts["path"]
    # Built from the parsed parts: the path is the normalised one, inside the run's artifacts.
    files = list_artifacts(artifact_uri=f"runs:/{run_id}/{path}", tracking_uri=tracking_uri)
    if not any(f.path.rsplit("/", 1)[-1] == "MLmodel" for f in files or []):
        raise _Refused(f"runs:/{run_id}/{path} is not a model: run {run_id} has no MLflow model at {path!r}")


def _why_unchecked(uri: str, exc: Exception) -> str:
    """The user's words for a check that failed without an answer; the detail goes to the log."""
    import requests
    from mlflow.exceptions import MlflowException

    logger.warning("checking the model URI %r failed", uri, exc_info=exc)
    # MLflow's HTTP client wraps a connection failure in a plain MlflowException.
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, requests.RequestException | ConnectionError) or (
        isinstance(exc, MlflowException) and isinstance(cause, requests.RequestException | ConnectionError)
    ):
        return f"{UNCHECKED}: the MLflow tracking store did not answer"
    return f"{UNCHECKED}; the server's log says why"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def clean_markdown(markdown) -> str:
    if not isinstance(markdown, str):
        raise ValidationError({"markdown": ["must be a string of Markdown"]})
    refuse_broken("markdown", markdown, INSTRUCTIONS)
    return markdown
