"""Pure row builders: reviewed requests in, evaluation-set rows and judge examples out.

The disagreement rule (chosen in the export form) decides what a request's several reviewers
say together:

- ``majority``: the rating given by more reviewers wins; a tie leaves the request out. The
  corrections, reasons and comments of the winning side are used (the latest correction wins).
  Each chunk is relevant if more of its raters said relevant than not; a tied chunk is left out.
- ``latest``: the reviewer whose effective feedback is newest decides the rating; each chunk
  takes its newest rating.
- ``leave_out``: a request whose reviewers gave different ratings is left out; a chunk whose
  raters differ is left out of the expected context.
- ``reliability_weighted``: as majority, but each reviewer's vote weighs what their reliability
  says (`Reviewed.weights`, from reliability.services.reviewer_weights); equal weights tie.

A reviewer who rated only chunks (no thumbs) takes part in the chunk vote only. A request with
neither an expected response nor an expected context has nothing to evaluate against and is left out.

Chunks are the request's passages (requestlog.passages: what the model saw, each document once), so
no document is expected, retrieved or judged twice. An incomplete request (the answer stopped
part-way) is exported like any other, but a thumbs up never makes its partial answer the expected
response: only a correction does. Its status travels with the chain's outputs (`status` beside
`response`, an MLflow record tag) and with each judge example.
"""

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .selection import Reviewed

RULES = ("majority", "latest", "leave_out", "reliability_weighted")
RULE_HELP = {
    "majority": "the rating most reviewers gave (a tie leaves the request out)",
    "latest": "the newest feedback decides",
    "leave_out": "requests reviewers disagree on are left out",
    "reliability_weighted": "each reviewer's vote weighs their Dawid–Skene reliability (a tie leaves it out)",
}
# An adjudicator's final label wins where there is one (adjudication app); elsewhere the majority.
RULES += ("adjudicated",)
RULE_HELP["adjudicated"] = "an adjudicator's final label where there is one, else the majority"


@dataclass
class Verdict:
    """What the reviewers of one request say together, after the disagreement rule."""

    rating: str  # positive | negative | "" (nobody gave a thumbs rating)
    correction: str | None
    reasons: list[str]
    comments: list[str]
    relevant: dict[int, bool]  # chunk position → relevant?
    chunk_comments: dict[int, list[str]]
    missing_sources: list[dict]
    disagreement: bool  # reviewers gave different ratings
    votes: Counter = field(default_factory=Counter)


def _ratings(assessments: list[dict]) -> Counter:
    return Counter(a["rating"] for a in assessments if a["rating"])


def resolve(item: Reviewed, rule: str) -> Verdict | None:
    """The reviewers' joint verdict on `item` under `rule`; None when the rule leaves it out."""
    if rule not in RULES:
        raise ValueError(f"unknown disagreement rule {rule!r}; use one of {', '.join(RULES)}")
    if rule == "adjudicated":
        return _adjudicated(item)
    if rule == "reliability_weighted" and item.weights is None:
        raise ValueError("the reliability_weighted rule needs the reviewers' weights (Reviewed.weights)")
    rated = [a for a in item.assessments if a["rating"]]
    votes = _ratings(rated)
    disagreement = len(votes) > 1
    if not rated:
        rating = ""
        side = []
    elif rule == "latest":
        rating = rated[-1]["rating"]
        side = [rated[-1]]
    elif rule == "leave_out" and disagreement:
        return None
    elif not disagreement:  # one rating, whoever gave it: every rule takes it
        rating = rated[0]["rating"]
        side = rated
    else:
        tally = votes
        if rule == "reliability_weighted":
            tally = _weighted(item, ((a["source_id"], a["rating"]) for a in rated))
        (top, n_top), *rest = tally.most_common()
        if rest and rest[0][1] == n_top:
            return None
        rating = top
        side = [a for a in rated if a["rating"] == rating]
    corrections = [a["corrected_response"] for a in side if a["corrected_response"]]
    reasons: list[str] = []
    for a in side:
        for reason in a["reasons"] or []:
            if reason not in reasons:
                reasons.append(reason)
        if a["other_reason"] and a["other_reason"] not in reasons:
            reasons.append(a["other_reason"])
    missing: dict[str, dict] = {}
    for a in side or item.assessments:
        for source in a["missing_sources"] or []:
            missing.setdefault(source.get("doc_uri", ""), source)
    relevant, chunk_comments = _resolve_chunks(item, rule)
    return Verdict(
        rating=rating,
        correction=corrections[-1] if corrections else None,
        reasons=reasons,
        comments=[a["comment"] for a in side if a["comment"]],
        relevant=relevant,
        chunk_comments=chunk_comments,
        missing_sources=list(missing.values()),
        disagreement=disagreement,
        votes=votes,
    )


def _adjudicated(item: Reviewed) -> Verdict | None:
    """The adjudicated label: its rating, correction and settled passages; the passages it left
    unsettled take the majority. Reasons and comments come from the reviewers who gave its rating,
    with the adjudicator's note. Without an adjudication, the majority rule."""
    adjudication = item.adjudication
    if adjudication is None:
        return resolve(item, "majority")
    rated = [a for a in item.assessments if a["rating"]]
    votes = _ratings(rated)
    rating = adjudication["rating"]
    side = [a for a in rated if a["rating"] == rating]
    reasons: list[str] = []
    for a in side:
        for reason in [*(a["reasons"] or []), a["other_reason"]]:
            if reason and reason not in reasons:
                reasons.append(reason)
    missing: dict[str, dict] = {}
    for a in side or item.assessments:
        for source in a["missing_sources"] or []:
            missing.setdefault(source.get("doc_uri", ""), source)
    relevant, chunk_comments = _resolve_chunks(item, "majority")
    relevant.update({int(p): bool(v) for p, v in (adjudication["relevant"] or {}).items()})
    comments = [a["comment"] for a in side if a["comment"]]
    if adjudication["note"]:
        comments.append(f"Adjudicated: {adjudication['note']}")
    return Verdict(
        rating=rating,
        correction=adjudication["corrected_response"] or None,
        reasons=reasons,
        comments=comments,
        relevant=dict(sorted(relevant.items())),
        chunk_comments=chunk_comments,
        missing_sources=list(missing.values()),
        disagreement=len(votes) > 1,
        votes=votes,
    )


def _resolve_chunks(item: Reviewed, rule: str) -> tuple[dict[int, bool], dict[int, list[str]]]:
    """Each passage's verdict: one vote per reviewer and passage (requestlog.passages.ratings)."""
    by_position: dict[int, list[bool]] = {}
    voters: dict[int, list[tuple[str, bool]]] = {}
    comments: dict[int, list[str]] = {}
    for a in item.assessments:  # oldest first, so the last vote is the newest
        if not a["retrieval_assessments"]:  # no chunk rated (ratings() would say so, slower)
            continue
        for position, ra in item.ratings(a["retrieval_assessments"]).items():
            by_position.setdefault(position, []).append(ra["rating"] == "relevant")
            voters.setdefault(position, []).append((a["source_id"], ra["rating"] == "relevant"))
            if ra.get("comment"):
                comments.setdefault(position, []).append(ra["comment"])
    relevant: dict[int, bool] = {}
    for position, votes in by_position.items():
        yes, no = votes.count(True), votes.count(False)
        if rule == "reliability_weighted" and yes and no:
            weighed = _weighted(item, voters[position])
            yes, no = weighed[True], weighed[False]
        if rule == "latest":
            relevant[position] = votes[-1]
        elif yes and no and rule == "leave_out":
            continue
        elif yes != no:
            relevant[position] = yes > no
    return relevant, comments


def _weighted(item: Reviewed, votes: Iterable[tuple[str, object]]) -> Counter:
    """Each side's summed weight; a reviewer without a weight (never overlapped) weighs nothing."""
    totals: Counter = Counter()
    for reviewer, side in votes:
        totals[side] += (item.weights or {}).get(reviewer, 0.0)
    return totals


def _chunk_map(item: Reviewed) -> dict[int, dict]:
    return {p["position"]: p for p in item.passages}


def context_of(chunks: Iterable[dict]) -> list[dict]:
    return [{"doc_uri": c.get("doc_uri", ""), "content": c.get("content", "")} for c in chunks]


def evaluation_row(item: Reviewed, verdict: Verdict, *, include_outputs: bool) -> dict | None:
    """One row in the evaluation-harness schema, or None when there is nothing to expect."""
    if verdict.correction:
        expected_response = verdict.correction
    elif verdict.rating == "positive" and item.complete:
        expected_response = item.response
    else:
        expected_response = None
    chunks = _chunk_map(item)
    expected_context = context_of(
        chunks[p] for p in sorted(verdict.relevant) if verdict.relevant[p] and p in chunks
    )
    known = {c["doc_uri"] for c in expected_context}
    expected_context += [s for s in context_of(verdict.missing_sources) if s["doc_uri"] not in known]
    if expected_response is None and not expected_context:
        return None
    row = {
        "request_id": item.request_id,
        "request": item.request_text,
        "expected_response": expected_response,
        "expected_retrieved_context": expected_context,
    }
    if include_outputs:
        row["response"] = item.response
        row["retrieved_context"] = context_of(chunks[p] for p in sorted(chunks))
        row["status"] = item.status
    return row


def mlflow_record(item: Reviewed, row: dict) -> dict:
    """The MLflow 3 form of a row: `inputs` the chain reads, `expectations` the scorers read."""
    expectations = {}
    if row["expected_response"] is not None:
        expectations["expected_response"] = row["expected_response"]
    if row["expected_retrieved_context"]:
        expectations["expected_retrieved_context"] = row["expected_retrieved_context"]
    record = {"inputs": {"messages": item.messages}, "expectations": expectations}
    if "response" in row:
        record["outputs"] = row["response"]
        record["tags"] = {"status": row["status"]}
    return record


def evaluation_rows(
    items: Iterable[Reviewed], *, rule: str, include_outputs: bool
) -> Iterator[tuple[Reviewed, dict]]:
    for item in items:
        verdict = resolve(item, rule)
        if verdict is None:
            continue
        row = evaluation_row(item, verdict, include_outputs=include_outputs)
        if row is not None:
            yield item, row


# --- judge few-shot examples ---------------------------------------------------------------

BUILTIN_JUDGES = ("groundedness", "correctness", "relevance_to_query", "chunk_relevance")
# The fields each built-in judge reads (the reference's table), in YAML order.
JUDGE_FIELDS = {
    "groundedness": ("request", "response", "context"),
    "correctness": ("request", "response", "expected_response"),
    "relevance_to_query": ("request", "response"),
    "chunk_relevance": ("request", "context"),
}
# A negative rating with one of these reasons says the judge should answer false.
REASON_KEYWORDS = {
    "groundedness": ("not grounded", "ungrounded", "hallucinat"),
    "relevance_to_query": ("irrelevant", "not relevant", "off topic", "off-topic"),
}


def _has_reason(reasons: list[str], keywords: Iterable[str]) -> bool:
    lowered = [r.lower() for r in reasons]
    return any(k.lower() in r for r in lowered for k in keywords)


def _rationale(verdict: Verdict, value: bool, extra: list[str] | None = None) -> str:
    parts = []
    if verdict.votes:
        n = sum(verdict.votes.values())
        agree = verdict.votes.get(verdict.rating, 0)
        parts.append(f"Rated {verdict.rating} by {agree} of {n} reviewer{'s' if n != 1 else ''}.")
    if verdict.reasons and not value:
        parts.append("Reasons: " + "; ".join(verdict.reasons) + ".")
    parts += extra or []
    parts += verdict.comments
    return " ".join(parts)


@dataclass
class Example:
    judge: str
    value: bool
    fields: dict
    rationale: str
    request_id: str
    conversation_id: str
    mlflow_trace_id: str
    human_disagreement: bool
    judge_disagreement: bool
    chunk_position: int | None = None
    status: str = "ok"  # the request's: incomplete when the answer stopped part-way

    def as_row(self) -> dict:
        return {
            "judge": self.judge,
            **self.fields,
            "value": self.value,
            "rationale": self.rationale,
            "request_id": self.request_id,
            "chunk_position": self.chunk_position,
            "human_disagreement": self.human_disagreement,
            "judge_disagreement": self.judge_disagreement,
            "status": self.status,
        }


def _judge_value(judge_results: list, name: str) -> bool | None:
    """An imported LLM-judge verdict named `name` on the trace, as a boolean, if there is one."""
    for result in judge_results or []:
        if not isinstance(result, dict):
            continue
        source = result.get("source") or {}
        if source.get("source_type") != "LLM_JUDGE":
            continue
        if str(result.get("assessment_name", "")).split("/")[-1] != name:
            continue
        value = (result.get("feedback") or {}).get("value")
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("yes", "no", "true", "false", "pass", "fail"):
            return value.lower() in ("yes", "true", "pass")
    return None


def judge_examples(item: Reviewed, verdict: Verdict, custom_judges: Iterable = ()) -> Iterator[Example]:
    """Every example this request gives each judge (built-in, then custom), before balancing."""
    request = item.request_text
    chunks = _chunk_map(item)

    def make(judge: str, value: bool, fields: dict, rationale: str, position: int | None = None) -> Example:
        judged = _judge_value(item.judge_results, judge)
        return Example(
            judge=judge,
            value=value,
            fields=fields,
            rationale=rationale,
            request_id=item.request_id,
            conversation_id=item.conversation_id,
            mlflow_trace_id=item.mlflow_trace_id,
            human_disagreement=verdict.disagreement,
            judge_disagreement=judged is not None and judged != value,
            chunk_position=position,
            status=item.status,
        )

    positive = verdict.rating == "positive"
    negative = verdict.rating == "negative"
    context = "\n\n".join(chunks[p].get("content", "") for p in sorted(chunks))

    # groundedness and relevance_to_query: true on positive ratings, false for their reasons.
    for judge in ("groundedness", "relevance_to_query"):
        if positive or (negative and _has_reason(verdict.reasons, REASON_KEYWORDS[judge])):
            fields = {"request": request, "response": item.response}
            if judge == "groundedness":
                if not context:
                    continue
                fields["context"] = context
            yield make(judge, positive, fields, _rationale(verdict, positive))

    # correctness: needs an expected response (the correction, or the approved complete response).
    if (positive and (item.complete or verdict.correction)) or (negative and verdict.correction):
        expected = verdict.correction or item.response
        fields = {"request": request, "response": item.response, "expected_response": expected}
        yield make("correctness", positive, fields, _rationale(verdict, positive))

    # chunk_relevance: one example per rated passage (a document once, so never contradicting).
    for position in sorted(verdict.relevant):
        if position not in chunks:
            continue
        value = verdict.relevant[position]
        note = verdict.chunk_comments.get(position, [])
        rationale = " ".join(
            [f"Reviewers rated this chunk {'relevant' if value else 'not relevant'}."] + note
        )
        fields = {"request": request, "context": chunks[position].get("content", "")}
        yield make("chunk_relevance", value, fields, rationale, position)

    for judge in custom_judges:
        mapped = _has_reason(verdict.reasons, judge.reasons) if judge.reasons else False
        if judge.type == "ANSWER":
            if positive or (negative and mapped):
                fields = {"request": request, "response": item.response}
                yield make(judge.name, positive, fields, _rationale(verdict, positive))
        else:
            # RETRIEVAL: false for chunks rated not relevant where a mapped reason was given,
            # true for chunks rated relevant on positively rated requests.
            for position in sorted(verdict.relevant):
                if position not in chunks:
                    continue
                relevant = verdict.relevant[position]
                if (negative and mapped and not relevant) or (positive and relevant):
                    fields = {"request": request, "retrieved_context": chunks[position].get("content", "")}
                    yield make(judge.name, positive, fields, _rationale(verdict, positive), position)


def priority(example: Example) -> tuple:
    """Higher sorts first: disagreements (with the judge, between reviewers) are the most useful."""
    return (example.judge_disagreement, example.human_disagreement)
