"""Passages: the retrieved chunks the model saw, one per document, as reviewers rate them.

A request keeps every chunk its retriever and reranker spans returned (`Request.chunks`, each with
its span). What the model saw is a choice among them:

- the chunks of the spans named by the app's `context_span`, when it is set and such spans
  returned something;
- else the chunks of the last RERANKER span, when the trace has one;
- else the chunks of every RETRIEVER span.

The same document (same doc_uri and content) returned twice is one passage, at the position of
its first occurrence, with the names of every span that returned it. Ratings, exports and MLflow
items refer to passages by that position. Chunks stored before spans were recorded have no span
keys: they count as RETRIEVER chunks of an unnamed span.
"""

RETRIEVER = "RETRIEVER"
RERANKER = "RERANKER"


def _kind(chunk: dict) -> str:
    return chunk.get("span_type") or RETRIEVER


def seen(chunks: list[dict] | None, context_span: str = "") -> list[dict]:
    """The chunks the model saw (before merging), in position order."""
    chunks = [c for c in chunks or [] if isinstance(c, dict)]
    if context_span:
        named = [c for c in chunks if c.get("span_name") == context_span]
        if named:
            return named
    reranked = [c for c in chunks if _kind(c) == RERANKER]
    if reranked:
        last = reranked[-1].get("span_id", "")
        return [c for c in reranked if c.get("span_id", "") == last]
    return [c for c in chunks if _kind(c) == RETRIEVER]


def _key(chunk: dict) -> tuple[str, str]:
    return (str(chunk.get("doc_uri") or ""), str(chunk.get("content") or ""))


def passages(chunks: list[dict] | None, context_span: str = "") -> list[dict]:
    """What the model saw, duplicates merged: [{position, doc_uri, content, spans, span_id}].

    `spans` names the spans that returned the document, in order (unnamed spans left out);
    `span_id` is the id of the first of them ("" for chunks stored without it).
    """
    merged: dict[tuple[str, str], dict] = {}
    for chunk in seen(chunks, context_span):
        passage = merged.get(_key(chunk))
        if passage is None:
            passage = merged[_key(chunk)] = {
                "position": chunk.get("position"),
                "doc_uri": str(chunk.get("doc_uri") or ""),
                "content": str(chunk.get("content") or ""),
                "spans": [],
                "span_id": chunk.get("span_id", ""),
            }
        name = chunk.get("span_name") or ""
        if name and name not in passage["spans"]:
            passage["spans"].append(name)
    return list(merged.values())


def passage_positions(
    chunks: list[dict] | None, context_span: str = "", *, merged: list[dict] | None = None
) -> dict[int, int]:
    """{chunk position: its passage's position} for every chunk holding a passage's document.

    A rating stored for a duplicate (before duplicates were merged), or for another span's copy of
    the document (before the app chose its context span), counts for the passage. `merged`: the
    chunks' passages, when the caller has them already.
    """
    if merged is None:
        merged = passages(chunks, context_span)
    first = {_key(p): p["position"] for p in merged}
    return {
        c.get("position"): first[_key(c)] for c in chunks or [] if isinstance(c, dict) and _key(c) in first
    }


def others(chunks: list[dict] | None, context_span: str = "") -> list[dict]:
    """The retrieved chunks the model did not see (shown, never rated), in position order."""
    shown = {id(c) for c in seen(chunks, context_span)}
    return [c for c in chunks or [] if isinstance(c, dict) and id(c) not in shown]


def ratings(
    items: list[dict] | None,
    chunks: list[dict] | None,
    context_span: str = "",
    *,
    positions: dict[int, int] | None = None,
) -> dict[int, dict]:
    """A row's stored chunk ratings by passage: {passage position: item}, in position order.

    Every reader of ratings (panel, validation, exports, MLflow, dashboard, queues) goes through
    this, so they agree. A rating stored at the passage's own position wins over one stored for
    another copy of its document (the context span changed since): the reviewer gave it seeing
    this passage. Ratings of a document that is no passage now are left out. `positions`: the
    chunks' passage_positions, when the caller reads several rows of one request.
    """
    if not items:
        return {}
    passage_of = passage_positions(chunks, context_span) if positions is None else positions
    exact: dict[int, dict] = {}
    copies: dict[int, dict] = {}
    for item in items or []:
        if not isinstance(item, dict) or item.get("rating") not in ("relevant", "not_relevant"):
            continue
        position = passage_of.get(item.get("position"))
        if position is None:
            continue
        if item.get("position") == position:
            exact[position] = item
        else:
            copies.setdefault(position, item)
    found = {**copies, **exact}
    return {p: found[p] for p in sorted(found)}
