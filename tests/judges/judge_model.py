"""The judge model of the tests: the OpenAI-compatible server on loopback (tests.chains.openai_server)
answering as a judge model does, by one fixed rule:

    the verdict is "no" when the prompt holds the word "wrong" (in any case), "yes" otherwise,
    with the rationale "It says wrong." or "Nothing wrong.".

MLflow's judge prompts never use that word, so what decides is the text judged: an answer (or a
passage, or the manager's instructions) with "wrong" in it fails. Every answer reports 120 prompt
and 9 completion tokens.
"""

import json
import re

from tests.chains.openai_server import OpenAIServer

KEY_ENV = "CHAIN_SECRET_JUDGE_MODEL"
KEY = "judge-model-key-123"
MODEL = "rule-judge-1"


def verdict(messages: list[dict]) -> str:
    text = " ".join(m["content"] for m in messages if isinstance(m.get("content"), str))
    wrong = re.search(r"\bwrong\b", text, re.IGNORECASE) is not None
    return json.dumps(
        {"result": "no" if wrong else "yes", "rationale": "It says wrong." if wrong else "Nothing wrong."}
    )


def start() -> OpenAIServer:
    server = OpenAIServer().__enter__()
    server.reply = verdict
    server.required_header = ("Authorization", f"Bearer {KEY}")
    server.usage = {"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129}
    return server


def settings_of(server: OpenAIServer, **more) -> dict:
    """An LLM judge's model settings, calling `server`."""
    return {"model": MODEL, "endpoint_url": f"{server.url}/v1", "key_env": KEY_ENV, **more}


def prompts(server: OpenAIServer) -> list[str]:
    """What the judge model was asked, a text per call."""
    return [" ".join(m["content"] for m in r["body"]["messages"]) for r in server.requests]
