"""The demo chain, as an MLflow models-from-code ResponsesAgent (`mlflow.models.set_model` below).

Self-contained on purpose: MLflow copies this one file into the logged model, and the document
set travels as the model's `docs` artifact, so the registered model loads anywhere that has
mlflow and rank-bm25 — without the reviewapp code base.

BM25 (rank-bm25) retrieves the top passages for the conversation's question; the answer is
composed from their most relevant sentences, citing each passage's doc_uri. MLflow Tracing
records a RETRIEVER span (the documents) and an LLM span with token counts. `predict_stream` gives
the answer a few words at a time, with a short pause between them, as a model generating it would,
so that the chat visibly streams.
"""

import re
import time
import uuid

import mlflow
from mlflow.entities import Document, SpanType
from mlflow.pyfunc import ResponsesAgent
from mlflow.tracing.constant import SpanAttributeKey
from mlflow.types.responses import ResponsesAgentResponse, ResponsesAgentStreamEvent
from rank_bm25 import BM25Okapi

TOP_K = 3
SENTENCES_PER_PASSAGE = 2
# Streaming: this many words per delta, this long between deltas (unless the host sets it, see
# delta_pause), and never longer than this in all.
WORDS_PER_DELTA = 3
DELTA_PAUSE_SECONDS = 0.04
STREAM_BUDGET_SECONDS = 8.0
_STOPWORDS = """a about above after again all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has
    have having he her here hers him his how i if in into is it its itself just me more most my no
    nor not of off on once only or other our out over own same she should so some such than that
    the their them then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours please tell
    explain know want need get"""
STOPWORDS = set(_STOPWORDS.split())
_WORD = re.compile(r"[a-z0-9]+")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def terms(text: str) -> list[str]:
    """Lower-cased content words with a light plural strip, for BM25 and sentence picking."""
    out = []
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS:
            continue
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


def count_tokens(text: str) -> int:
    """An approximation of an LLM tokenizer: words and punctuation marks each count as one."""
    return len(_TOKEN.findall(text))


def _item_id() -> str:
    return f"msg_{uuid.uuid4().hex[:12]}"


def chat_messages(request) -> list[dict]:
    """The conversation's messages ({role, content}) in a ResponsesAgent request; tool steps dropped."""
    out = []
    for item in request.input:
        item = item.model_dump() if hasattr(item, "model_dump") else dict(item)
        if item.get("role"):
            out.append({"role": item["role"], "content": item.get("content", "")})
    return out


def message_text(message: dict) -> str:
    content = message.get("content", "")
    if isinstance(content, list):  # OpenAI or Responses content parts
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def read_documents(path: str) -> list[dict]:
    """Passages from the bundled docs file: `# page: Title`, `## section: Title`, then text."""
    docs, page, page_title, current = [], None, "", None
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.rstrip("\n")
            if line.startswith("## "):
                section, _, title = line[3:].partition(":")
                current = {
                    "doc_uri": f"docs://{page}#{section.strip()}",
                    "title": f"{page_title} — {title.strip()}",
                    "lines": [],
                }
                docs.append(current)
            elif line.startswith("# "):
                page, _, page_title = line[2:].partition(":")
                page, page_title, current = page.strip(), page_title.strip(), None
            elif current is not None and line.strip():
                current["lines"].append(line.strip())
    return [{"doc_uri": d["doc_uri"], "title": d["title"], "text": " ".join(d["lines"])} for d in docs]


def deltas(text: str, words: int = WORDS_PER_DELTA) -> list[str]:
    """The answer in pieces of a few words (whitespace kept), which join back to it exactly."""
    pieces = re.findall(r"\S+\s*", text)
    head = text[: len(text) - len(text.lstrip())]
    parts = ["".join(pieces[n : n + words]) for n in range(0, len(pieces), words)] or [""]
    parts[0] = head + parts[0]
    return parts


def delta_pause() -> float:
    """Seconds between deltas: reviewapp's DEMO_STREAM_DELAY_SECONDS when loaded inside reviewapp
    (tests set 0), else the default (this file also loads where Django is absent)."""
    try:
        from django.conf import settings

        return max(float(settings.DEMO_STREAM_DELAY_SECONDS), 0.0)
    except Exception:
        return DELTA_PAUSE_SECONDS


class DemoChain(ResponsesAgent):
    def load_context(self, context):
        self.load(context.artifacts["docs"])

    def load(self, docs_path: str) -> "DemoChain":
        self.docs = read_documents(docs_path)
        self.index = BM25Okapi([terms(d["title"] + " " + d["text"]) for d in self.docs])
        return self

    def predict(self, request):
        answer = self.run(chat_messages(request))
        return ResponsesAgentResponse(output=[self.create_text_output_item(answer, _item_id())])

    def predict_stream(self, request):
        answer = self.run(chat_messages(request))
        item_id = _item_id()
        parts = deltas(answer)
        pause = min(delta_pause(), STREAM_BUDGET_SECONDS / len(parts))
        for n, part in enumerate(parts):
            if n and pause:
                time.sleep(pause)
            yield ResponsesAgentStreamEvent(**self.create_text_delta(part, item_id))
        yield ResponsesAgentStreamEvent(
            type="response.output_item.done", item=self.create_text_output_item(answer, item_id)
        )

    @mlflow.trace(name="demo_chain", span_type=SpanType.CHAIN)
    def run(self, messages: list[dict]) -> str:
        question = self.question(messages)
        documents = self.retrieve(question)
        return self.compose(question, documents)

    def question(self, messages: list[dict]) -> str:
        """The last user message; a short follow-up also carries the previous user question."""
        asked = [message_text(m) for m in messages if m.get("role") == "user"]
        if not asked or not asked[-1].strip():
            raise ValueError("messages must contain a non-empty user message")
        if len(asked) > 1 and len(terms(asked[-1])) < 3:
            return f"{asked[-2]} {asked[-1]}"
        return asked[-1]

    @mlflow.trace(name="retrieve", span_type=SpanType.RETRIEVER)
    def retrieve(self, query: str, k: int = TOP_K) -> list[Document]:
        scores = self.index.get_scores(terms(query))
        ranked = sorted(range(len(self.docs)), key=lambda i: scores[i], reverse=True)[:k]
        return [
            Document(
                page_content=self.docs[i]["text"],
                metadata={
                    "doc_uri": self.docs[i]["doc_uri"],
                    "title": self.docs[i]["title"],
                    "score": round(float(scores[i]), 4),
                },
                id=self.docs[i]["doc_uri"],
            )
            for i in ranked
            if scores[i] > 0
        ]

    @mlflow.trace(name="compose_answer", span_type=SpanType.LLM)
    def compose(self, question: str, documents: list[Document]) -> str:
        if not documents:
            answer = (
                "I could not find anything about that in the documentation I have. "
                "Try asking with the name of a feature, a page or a setting."
            )
        else:
            wanted = set(terms(question))
            lines, sources = [], []
            for n, doc in enumerate(documents, start=1):
                sentences = _SENTENCE.split(doc.page_content)
                best = sorted(
                    range(len(sentences)),
                    key=lambda i: (-len(wanted & set(terms(sentences[i]))), i),
                )[:SENTENCES_PER_PASSAGE]
                picked = " ".join(sentences[i] for i in sorted(best))
                lines.append(f"{n}. {picked} [{n}]")
                sources.append(f"[{n}] {doc.metadata['title']}: {doc.metadata['doc_uri']}")
            answer = "From the documentation:\n\n" + "\n".join(lines) + "\n\nSources:\n" + "\n".join(sources)
        prompt = question + "\n" + "\n".join(d.page_content for d in documents)
        usage = {"input_tokens": count_tokens(prompt), "output_tokens": count_tokens(answer)}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        span = mlflow.get_current_active_span()
        if span is not None:
            span.set_attribute(SpanAttributeKey.CHAT_USAGE, usage)
            span.set_attribute("reviewapp.token_count_method", "words and punctuation marks")
        return answer


mlflow.models.set_model(DemoChain())
