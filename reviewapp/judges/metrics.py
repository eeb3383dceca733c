"""The judges that need no LLM: reference metrics against the reviewers' correction, lexical
groundedness of each answer sentence in the retrieved passages, retrieval metrics from the
reviewers' chunk ratings. Each is a plain function from text (or ratings) to a score in [0, 1].

Text is split into words the same way everywhere (`words`): Unicode word characters, case-folded,
so a French or Japanese answer is scored as an English one is (rouge-score's own tokenizer keeps
only a-z and 0-9).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cache

# Each kind's metrics and their default thresholds (a score at or above it passes).
METRICS = {
    "reference": {"token_f1": 0.5, "rouge_l": 0.5, "exact_match": 1.0, "semantic_similarity": 0.8},
    "groundedness": {"lexical": 0.8, "embedding": 0.8},
    "retrieval": {"precision": 0.5, "hit_rate": 1.0, "mrr": 0.5},
    # An LLM judge's metric is its criterion (judges.llm.CRITERIA): a verdict scores 1 or 0, and
    # chunk relevance the share of passages judged relevant.
    "llm": {
        "correctness": 1.0,
        "relevance_to_query": 1.0,
        "groundedness": 1.0,
        "chunk_relevance": 0.5,
        "safety": 1.0,
        "guidelines": 1.0,
        "custom": 1.0,
    },
}
# The human label each kind is measured against (exports.rows.judge_examples names them); a
# retrieval metric is computed from the reviewers' own chunk ratings, so it has none.
CRITERION = {"reference": "correctness", "groundedness": "groundedness", "retrieval": None, "llm": None}
# An LLM judge is measured against the label its criterion names, where the reviewers give one.
LABELLED = ("correctness", "relevance_to_query", "groundedness", "chunk_relevance")


def criterion(kind: str, metric: str) -> str | None:
    """The reviewers' label a judge of this kind and metric is measured against, if any."""
    if kind == "llm":
        return metric if metric in LABELLED else None
    return CRITERION[kind]


# The metrics that need the embeddings extra (judges.embeddings).
NEEDS_EMBEDDINGS = ("semantic_similarity", "embedding")
# A sentence is grounded when this share of its words is found in the passages.
GROUNDED_SHARE = 0.6
# ...or, by embedding, when its meaning is this close (cosine) to a sentence of the passages.
GROUNDED_SIMILARITY = 0.8
SHOWN_SENTENCES = 3
SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def words(text: str) -> list[str]:
    return re.findall(r"\w+", (text or "").casefold())


class _Words:
    """rouge-score's tokenizer interface, over `words`."""

    def tokenize(self, text: str) -> list[str]:
        return words(text)


@cache
def _rouge():
    # Imported on first use: rouge-score brings nltk, scipy and scikit-learn (2 s and some 70 MB),
    # which a web or export worker that never scores should not carry.
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Words())


def exact_match(response: str, reference: str) -> float:
    return 1.0 if words(response) == words(reference) else 0.0


def token_f1(response: str, reference: str) -> float:
    """Harmonic mean of word precision and recall (each word counted as often as it occurs)."""
    got, want = words(response), words(reference)
    if not got or not want:
        return 1.0 if got == want else 0.0
    common = sum((Counter(got) & Counter(want)).values())
    if not common:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)


def rouge_l(response: str, reference: str) -> float:
    """ROUGE-L F-measure: the longest common word subsequence (rouge-score)."""
    if not words(response) or not words(reference):
        return 1.0 if words(response) == words(reference) else 0.0
    return _rouge().score(reference, response)["rougeL"].fmeasure


def semantic_similarity(response: str, reference: str) -> float:
    """The cosine similarity of the two texts' all-MiniLM-L6-v2 embeddings, below 0 counted as 0."""
    from . import embeddings

    if not words(response) or not words(reference):
        return 1.0 if words(response) == words(reference) else 0.0
    return max(0.0, embeddings.similarity(response, reference))


REFERENCE = {
    "token_f1": token_f1,
    "rouge_l": rouge_l,
    "exact_match": exact_match,
    "semantic_similarity": semantic_similarity,
}


@dataclass
class Grounding:
    score: float  # grounded sentences / sentences
    sentences: int
    ungrounded: list[str]


def lexical_groundedness(response: str, passages: list[str]) -> Grounding | None:
    """Each sentence of the answer with words is grounded when GROUNDED_SHARE of its words appear
    in the passages; None when there is no sentence or no passage to judge by."""
    known = set()
    for passage in passages:
        known.update(words(passage))
    sentences = _sentences(response)
    if not sentences or not known:
        return None
    ungrounded = []
    for sentence in sentences:
        said = words(sentence)
        if sum(word in known for word in said) / len(said) < GROUNDED_SHARE:
            ungrounded.append(sentence)
    return Grounding(1 - len(ungrounded) / len(sentences), len(sentences), ungrounded)


def _sentences(text: str) -> list[str]:
    return [s for s in (part.strip() for part in SENTENCE_END.split(text or "")) if words(s)]


def embedding_groundedness(response: str, passages: list[str]) -> Grounding | None:
    """Each sentence of the answer is grounded when its embedding is GROUNDED_SIMILARITY close to
    that of some sentence of the passages (all-MiniLM-L6-v2); None as lexical_groundedness."""
    from . import embeddings

    said = _sentences(response)
    known = [s for passage in passages for s in _sentences(passage)]
    if not said or not known:
        return None
    vectors = embeddings.embed(said + known)
    closest = (vectors[: len(said)] @ vectors[len(said) :].T).max(axis=1)
    ungrounded = [
        sentence for sentence, near in zip(said, closest, strict=True) if near < GROUNDED_SIMILARITY
    ]
    return Grounding(1 - len(ungrounded) / len(said), len(said), ungrounded)


GROUNDEDNESS = {"lexical": lexical_groundedness, "embedding": embedding_groundedness}


def retrieval_score(metric: str, relevant: dict[int, bool], rank_of: dict[int, int]) -> float | None:
    """From the reviewers' verdict on each rated passage (position → relevant?) and each passage's
    rank (position → 1-based place among what the model saw, as the dashboard's MRR counts it);
    None when no passage was rated."""
    ranked = {rank_of[p]: yes for p, yes in relevant.items() if p in rank_of}
    if not ranked:
        return None
    if metric == "precision":
        return sum(ranked.values()) / len(ranked)
    if metric == "hit_rate":
        return 1.0 if any(ranked.values()) else 0.0
    first = min((rank for rank, yes in ranked.items() if yes), default=None)
    return 0.0 if first is None else 1 / first
