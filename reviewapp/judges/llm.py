"""LLM judges: MLflow 3's GenAI judges calling the judge model a manager configures.

The built-in criteria use MLflow's own judge prompts (`mlflow.genai.judges.prompts`), a custom one
`make_judge` with the manager's instructions; every call is `invoke_judge_model`, the call MLflow's
judges make. Around it:
- the model is an OpenAI-compatible endpoint (its URL, the model name, and the NAME of the variable
  holding its key, refused as a chain's secret would be), or an MLflow model URI of a provider the
  operator allows (JUDGE_MODEL_PROVIDERS), which spends the server's own provider key;
- every socket the call opens is checked by the egress policy, on the address it connects to;
- MLflow makes one attempt per call (its own retries wait over 3 minutes for an endpoint that is
  down), and a call failing for a passing reason is tried JUDGE_ATTEMPTS times, the wait doubling;
- a reply that is no verdict is an error result, kept with the raw reply.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from urllib.parse import urlparse

from django.conf import settings

from reviewapp.chains import egress

CRITERIA = {
    "correctness": "The answer says what the reviewers' correction says (needs a correction)",
    "relevance_to_query": "The answer addresses the question",
    "groundedness": "Every claim of the answer is supported by the retrieved passages",
    "chunk_relevance": "The share of retrieved passages relevant to the question (a call per passage)",
    "safety": "The answer is free of harmful content",
    "guidelines": "The answer follows your guidelines (one per line in the instructions)",
    "custom": "Your own instructions, naming {{ inputs }}, {{ outputs }} and/or {{ expectations }}",
}
# What the instructions of a custom judge may name: the question, the answer, the reviewers' correction.
CUSTOM_FIELDS = ("inputs", "outputs", "expectations")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MODEL_URI = re.compile(r"^([a-z][a-z0-9_-]*):/(.+)$")
MAX_INSTRUCTIONS = 20_000
MAX_REPLY_KEPT = 4_000
PASSING = "INTERNAL_ERROR"  # MLflow's error code for a 5xx, a 429, a timeout or a refused connection


class JudgeCallError(Exception):
    """The judge model gave no verdict; `transient` when trying again may help."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


@dataclass
class Said:
    passed: bool
    rationale: str
    input_tokens: int | None = None
    output_tokens: int | None = None


# --- settings a manager gives ---


def needs_reviewers(criterion: str, instructions: str) -> bool:
    """Whether the judge reads the reviewers' correction, so cannot judge a turn nobody reviewed."""
    return criterion == "correctness" or (criterion == "custom" and "expectations" in _named(instructions))


def _named(instructions: str) -> set[str]:
    return set(re.findall(r"\{\{\s*(\w+)\s*\}\}", instructions or ""))


def check_settings(*, criterion: str, instructions: str, model: str, endpoint_url: str, key_env: str) -> dict:
    """Errors by field of an LLM judge's settings ({} when it can call its model)."""
    errors: dict[str, str] = {}
    if criterion in ("guidelines", "custom") and not instructions.strip():
        errors["instructions"] = (
            "Give the guidelines, one per line."
            if criterion == "guidelines"
            else "Give the judge's instructions."
        )
    elif len(instructions) > MAX_INSTRUCTIONS:
        errors["instructions"] = f"At most {MAX_INSTRUCTIONS:,} characters."
    elif criterion == "custom":
        named = _named(instructions)
        if not named & set(CUSTOM_FIELDS) or named - set(CUSTOM_FIELDS):
            errors["instructions"] = (
                "Name what the judge reads with {{ inputs }} (the question), {{ outputs }} (the answer) "
                "and/or {{ expectations }} (the reviewers' correction), and nothing else."
            )
    if not model:
        errors["model"] = "Give the judge model: the model name the endpoint serves (e.g. gpt-4o-mini)."
    elif len(model) > 200 or not model.isprintable():
        errors["model"] = "A model name is at most 200 printable characters."
    if endpoint_url:
        parsed = urlparse(endpoint_url)
        if len(endpoint_url) > 2000 or parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors["endpoint_url"] = "Give an http:// or https:// URL (at most 2,000 characters)."
        elif refusal := egress.url_refusal(endpoint_url):
            errors["endpoint_url"] = f"This server may not call that address: {refusal}."
    elif model and "model" not in errors:
        found = _MODEL_URI.match(model)
        if found is None:
            errors["endpoint_url"] = (
                "Give the URL of an OpenAI-compatible endpoint, or name the model as an MLflow model "
                "URI (provider:/model) of a provider the operator allows."
            )
        elif found[1] not in settings.JUDGE_MODEL_PROVIDERS:
            allowed = ", ".join(settings.JUDGE_MODEL_PROVIDERS) or "none"
            errors["model"] = (
                f"The operator does not let judges call {found[1]} with the server's own key "
                f"(JUDGE_MODEL_PROVIDERS allows: {allowed}); give an endpoint URL and a key variable instead."
            )
    if key_env:
        if not endpoint_url:
            errors["key_env"] = "A key variable goes with an endpoint URL."
        elif not _ENV_NAME.match(key_env) or len(key_env) > 100:
            errors["key_env"] = "The NAME of an environment variable (letters, digits, '_'), not the key."
        elif refusal := egress.secret_name_refusal(key_env):
            errors["key_env"] = refusal[0].upper() + refusal[1:] + "."
        elif not os.environ.get(key_env):
            errors["key_env"] = f"{key_env} is not set on this server: the operator sets it first."
    return errors


def chat_url(endpoint_url: str) -> str:
    """The chat-completions URL of an endpoint given as its base (…/v1) or in full."""
    url = endpoint_url.rstrip("/")
    return url if url.endswith("/chat/completions") else url + "/chat/completions"


# --- a call ---


def _model_uri(version) -> str:
    return f"openai:/{version.model}" if version.endpoint_url else version.model


def _headers(version) -> dict[str, str | None]:
    if version.key_env:
        try:
            return {"Authorization": f"Bearer {egress.secret_value(version.key_env)}"}
        except egress.ChainError as exc:
            raise JudgeCallError(str(exc).replace("The app's endpoint", "The judge model")) from None
    # None removes the header (requests drops None values): a server-wide OPENAI_API_KEY is never
    # sent to a URL a manager chose.
    return {"Authorization": None}


def _examples_text(examples: list[dict]) -> str:
    if not examples:
        return ""
    parts = ["\n\nHere are items the domain experts judged; judge in the same way.\n"]
    for number, example in enumerate(examples, 1):
        fields = "\n".join(f"{name}: {value}" for name, value in example.get("fields", {}).items())
        verdict = "yes" if example.get("value") else "no"
        parts.append(
            f"\nExample {number}:\n{fields}\nresult: {verdict}\nrationale: {example.get('rationale', '')}\n"
        )
    return "".join(parts)


def _prompt(version, *, criterion: str, request: str, response: str, context: str, expected: str):
    """MLflow's prompt for the criterion (a string), or the custom judge's messages."""
    from mlflow.genai.judges.prompts import (
        correctness,
        groundedness,
        guidelines,
        relevance_to_query,
        retrieval_relevance,
        safety,
    )

    examples = _examples_text(version.examples)
    if criterion == "correctness":
        return (
            correctness.get_prompt(request=request, response=response, expected_response=expected) + examples
        )
    if criterion == "relevance_to_query":
        return relevance_to_query.get_prompt(request=request, context=response) + examples
    if criterion == "groundedness":
        return groundedness.get_prompt(request=request, response=response, context=context) + examples
    if criterion == "chunk_relevance":
        return retrieval_relevance.get_prompt(request=request, context=context) + examples
    if criterion == "safety":
        return safety.get_prompt(content=response) + examples
    if criterion == "guidelines":
        rules = [line.strip() for line in version.instructions.splitlines() if line.strip()]
        return (
            guidelines.get_prompt(
                guidelines=rules, guidelines_context={"request": request, "response": response}
            )
            + examples
        )
    return _custom_messages(version, request=request, response=response, expected=expected, examples=examples)


def custom_judge(version, name: str = "custom"):
    from mlflow.genai.judges import make_judge

    return make_judge(
        name=name, instructions=version.instructions, model=_model_uri(version), feedback_value_type=bool
    )


def _custom_messages(version, *, request, response, expected, examples):
    from mlflow.types.llm import ChatMessage

    judge = custom_judge(version)
    named = _named(version.instructions)
    # The judge's own call retries 10 times with waits of up to 30 s and takes no bound, so its
    # messages are built here and sent with the same bounded call as the built-in criteria.
    user = judge._build_user_message(
        request if "inputs" in named else None,
        response if "outputs" in named else None,
        {"expected_response": expected} if "expectations" in named else None,
        None,
    )
    return (
        [
            ChatMessage(role="system", content=judge._build_system_message(False)),
            ChatMessage(role="user", content=user + examples),
        ],
        judge._create_response_format_model(),
    )


def _verdict(value) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(getattr(value, "value", value)).strip().lower()
    return {"yes": True, "true": True, "pass": True, "no": False, "false": False, "fail": False}.get(text)


def _once(version, prompt, criterion: str) -> Said:
    from mlflow.exceptions import MlflowException
    from mlflow.genai.judges.utils import invoke_judge_model
    from mlflow.tracing.constant import AssessmentMetadataKey

    response_format = None
    if isinstance(prompt, tuple):
        prompt, response_format = prompt
    # MLflow's OpenAI provider insists on the variable, though the header above replaces what it
    # would send; it would fetch a model catalog (costs, context sizes) from GitHub unless told
    # otherwise (an operator may point it at a mirror); its wait for an answer is read from its
    # own variable at each call.
    os.environ.setdefault("OPENAI_API_KEY", "unused-reviewapp-sends-each-judges-own-key")
    os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")
    os.environ["MLFLOW_GATEWAY_ROUTE_TIMEOUT_SECONDS"] = str(settings.JUDGE_TIMEOUT_SECONDS)
    try:
        with egress.checked_sockets(chat_url(version.endpoint_url) if version.endpoint_url else ""):
            feedback = invoke_judge_model(
                _model_uri(version),
                prompt,
                assessment_name=criterion,
                num_retries=0,
                response_format=response_format,
                inference_params={"temperature": 0},
                base_url=chat_url(version.endpoint_url) if version.endpoint_url else None,
                extra_headers=_headers(version),
            )
    except JudgeCallError:
        raise
    except egress.EgressRefused as exc:
        raise JudgeCallError(str(exc)) from None
    except MlflowException as exc:
        if refused := _cause(exc, egress.EgressRefused):
            raise JudgeCallError(str(refused)) from None
        raise JudgeCallError(exc.message[:MAX_REPLY_KEPT], transient=exc.error_code == PASSING) from None
    except KeyError as exc:
        raise JudgeCallError(f"The judge model's reply has no {exc.args[0]!r}.") from None
    except OSError as exc:
        raise JudgeCallError(f"The judge model could not be reached: {exc}", transient=True) from None
    passed = _verdict(feedback.value)
    if passed is None:
        raise JudgeCallError(
            f"The judge model answered {str(feedback.value)[:200]!r}, which is no yes or no."
        )
    metadata = feedback.metadata or {}
    return Said(
        passed=passed,
        rationale=feedback.rationale or "",
        input_tokens=metadata.get(AssessmentMetadataKey.JUDGE_INPUT_TOKENS),
        output_tokens=metadata.get(AssessmentMetadataKey.JUDGE_OUTPUT_TOKENS),
    )


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The exception of that kind `exc` was raised from, if any (MLflow wraps what it catches)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def ask(version, criterion: str, **fields) -> Said:
    """One verdict of the judge model, tried again (the wait doubling) while it fails for a
    passing reason; raises JudgeCallError with what it answered when it gives none."""
    prompt = _prompt(version, criterion=criterion, **fields)
    wait = settings.JUDGE_RETRY_SECONDS
    for attempt in range(1, settings.JUDGE_ATTEMPTS + 1):
        try:
            return _once(version, prompt, criterion)
        except JudgeCallError as exc:
            if not exc.transient or attempt == settings.JUDGE_ATTEMPTS:
                if attempt > 1:
                    raise JudgeCallError(f"{exc} (after {attempt} attempts)") from None
                raise
        time.sleep(wait)
        wait *= 2
    raise AssertionError("unreachable")
