"""The panel's POST → a `changes` dict for services.record (only the field that changed)."""

from django.core.exceptions import ValidationError
from django.http import QueryDict

from .panel import PanelState

PANEL_FIELDS = {
    "rating",
    "reasons",
    "other_reason",
    "comment",
    "corrected_response",
    "corrected_response_clear",
    "chunk",
    "chunk_comment",
    "missing_add",
    "missing_remove",
}


class NeedsChunkRating(Exception):
    """A chunk comment typed before the chunk was rated: kept in the page, saved with the rating."""


def _position(post: QueryDict) -> int:
    try:
        return int(post.get("position", ""))
    except ValueError:
        raise ValidationError({"retrieval_assessments": "A chunk position is needed."}) from None


def changes_from_post(post: QueryDict, state: PanelState) -> dict:
    field = post.get("field", "")
    if field not in PANEL_FIELDS:
        raise ValidationError({"field": f"Unknown panel field {field!r}."})
    if field == "rating":
        return {"rating": post.get("rating", "")}
    if field == "reasons":
        changes = {"reasons": post.getlist("reasons")}
        if "other" in changes["reasons"]:
            changes["other_reason"] = post.get("other_reason", "")
        return changes
    if field == "other_reason":
        text = post.get("other_reason", "")
        changes = {"other_reason": text}
        # Typing an other reason means picking "other".
        if text.strip() and "other" not in state.reasons:
            changes["reasons"] = [*state.reasons, "other"]
        return changes
    if field == "comment":
        return {"comment": post.get("comment", "")}
    if field == "corrected_response":
        text = post.get("corrected_response", "")
        # The untouched answer is no correction.
        return {"corrected_response": None if text == state.req.response else text}
    if field == "corrected_response_clear":
        return {"corrected_response": None}
    if field in ("chunk", "chunk_comment"):
        position = _position(post)
        comment = post.get(f"chunk_comment_{position}", "")
        if field == "chunk":
            rating = post.get("chunk_rating", "")
        else:
            rating = next((c.rating for c in state.chunks if c.position == position), "")
            if not rating:
                raise NeedsChunkRating
        return {"retrieval_assessments": [{"position": position, "rating": rating, "comment": comment}]}
    if field == "missing_add":
        new = {"doc_uri": post.get("missing_doc_uri", ""), "content": post.get("missing_content", "")}
        return {"missing_sources": [*state.missing_sources, new]}
    # missing_remove
    try:
        index = int(post.get("index", ""))
    except ValueError:
        index = -1
    if not 0 <= index < len(state.missing_sources):
        raise ValidationError({"missing_sources": "That missing source is no longer there."})
    return {"missing_sources": [s for i, s in enumerate(state.missing_sources) if i != index]}


def panel_group(field: str) -> str:
    """Which section's "saved" mark a field lights."""
    return {
        "corrected_response_clear": "corrected_response",
        "missing_add": "missing_sources",
        "missing_remove": "missing_sources",
    }.get(field, field)
