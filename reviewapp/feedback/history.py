"""A request's feedback history as people read it: consecutive rows by one reviewer are one card
("edited 4 times"), with what changed field by field since that reviewer's state before the card."""

from dataclasses import dataclass, field

from reviewapp.requestlog import passages as passage_rules

from .models import Assessment
from .panel import diff_ops

RATING_WORDS = {"positive": "Good", "negative": "Not good", "": "no rating"}
CHUNK_WORDS = {"relevant": "relevant", "not_relevant": "not relevant"}


@dataclass
class Change:
    label: str
    # One of: "value" (before → after), "diff" (word diff in ops), "list" (added / removed).
    kind: str
    before: str = ""
    after: str = ""
    ops: list[tuple[str, str]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


@dataclass
class ChunkLine:
    number: int | None
    doc_uri: str
    rating: str  # in words
    comment: str


@dataclass
class Card:
    latest: Assessment  # what the reviewer thought at the end of the card
    rows: list[Assessment]
    changes: list[Change]
    chunks: list[ChunkLine]
    had_before: bool  # the reviewer had feedback before this card

    @property
    def edits(self) -> int:
        return len(self.rows)

    @property
    def first(self) -> Assessment:
        return self.rows[0]

    @property
    def is_effective(self) -> bool:
        return bool(getattr(self.latest, "is_effective", False))

    @property
    def rating_words(self) -> str:
        return RATING_WORDS.get(self.latest.rating, self.latest.rating)


def _numbers(request) -> dict[int, int]:
    """{passage position: its number as the answer cites it, from 1}."""
    return {p["position"]: n for n, p in enumerate(request.passages(), 1)}


def _rated(row: Assessment | None, request) -> dict[int, dict]:
    if row is None:
        return {}
    return passage_rules.ratings(row.retrieval_assessments, request.chunks, request.app.context_span)


def _list_change(changes: list, label: str, old: list, new: list) -> None:
    if old != new:
        changes.append(
            Change(
                label,
                "list",
                added=[item for item in new if item not in old],
                removed=[item for item in old if item not in new],
            )
        )


def _source(source: dict) -> str:
    return " ".join(part for part in (source.get("doc_uri", ""), source.get("content", "")) if part)


def changes_between(before: Assessment | None, after: Assessment, request) -> list[Change]:
    """What `after` says differently from `before` (None: no feedback yet), field by field."""
    numbers = _numbers(request)
    changes: list[Change] = []
    old_rating = before.rating if before else ""
    if old_rating != after.rating:
        changes.append(
            Change(
                "Rating", "value", RATING_WORDS.get(old_rating, old_rating), RATING_WORDS.get(after.rating)
            )
        )
    _list_change(changes, "Reasons", list(before.reasons or []) if before else [], list(after.reasons or []))
    old_other = before.other_reason if before else ""
    if old_other != after.other_reason:
        changes.append(Change("Other reason", "value", old_other or "none", after.other_reason or "none"))
    old_comment = before.comment if before else ""
    if old_comment != after.comment:
        changes.append(Change("Comment", "diff", ops=diff_ops(old_comment, after.comment)))
    old_correction = before.corrected_response if before else None
    if old_correction != after.corrected_response:
        if after.corrected_response is None:
            changes.append(Change("Correction", "value", "a correction", "none"))
        else:
            base = request.response if old_correction is None else old_correction
            label = "Correction (against the answer)" if old_correction is None else "Correction"
            changes.append(Change(label, "diff", ops=diff_ops(base, after.corrected_response)))
    old_chunks, new_chunks = _rated(before, request), _rated(after, request)
    for position in sorted(set(old_chunks) | set(new_chunks)):
        old, new = old_chunks.get(position, {}), new_chunks.get(position, {})
        name = f"Passage [{numbers[position]}]" if position in numbers else "A passage no longer shown"
        if old.get("rating") != new.get("rating"):
            changes.append(
                Change(
                    name,
                    "value",
                    CHUNK_WORDS.get(old.get("rating"), "not rated"),
                    CHUNK_WORDS.get(new.get("rating"), "not rated"),
                )
            )
        if (old.get("comment") or "") != (new.get("comment") or ""):
            changes.append(
                Change(
                    f"{name}, comment",
                    "diff",
                    ops=diff_ops(old.get("comment") or "", new.get("comment") or ""),
                )
            )
    _list_change(
        changes,
        "Missing sources",
        [_source(s) for s in (before.missing_sources or [])] if before else [],
        [_source(s) for s in after.missing_sources or []],
    )
    return changes


def history_cards(assessments, request) -> list[Card]:
    """The rows of `request` (any order, annotated `is_effective`) as cards, newest first."""
    numbers = _numbers(request)
    rows = sorted(assessments, key=lambda a: (a.created_at, a.pk))
    groups: list[list[Assessment]] = []
    for row in rows:
        if groups and groups[-1][-1].reviewer_id == row.reviewer_id:
            groups[-1].append(row)
        else:
            groups.append([row])
    last_of: dict[int, Assessment] = {}
    cards: list[Card] = []
    for group in groups:
        before = last_of.get(group[0].reviewer_id)
        latest = group[-1]
        chunks = [
            ChunkLine(
                numbers.get(p),
                item.get("doc_uri", ""),
                CHUNK_WORDS[item["rating"]],
                item.get("comment") or "",
            )
            for p, item in _rated(latest, request).items()
        ]
        cards.append(
            Card(
                latest=latest,
                rows=group,
                changes=changes_between(before, latest, request),
                chunks=chunks,
                had_before=before is not None,
            )
        )
        last_of[latest.reviewer_id] = latest
    cards.reverse()
    return cards
