"""The feedback panel: what it shows (one reviewer's effective feedback on one request), and what
its POST asks for (a `changes` dict for services.record_feedback, only the control that changed)."""

import difflib
import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.urls import reverse

from reviewapp.requestlog import passages as passage_rules
from reviewapp.requestlog.models import Request

from . import drafts as draft_rules
from .models import Assessment

_TOKENS = re.compile(r"\s+|[^\s]+")


def diff_ops(before: str, after: str) -> list[tuple[str, str]]:
    """Word-level diff as [(op, text)], op in equal/insert/delete; rendered escaped by the template.

    A lone space between two changes joins them, so "press Rotate" → "API tokens" reads as one
    change rather than two.
    """
    a = _TOKENS.findall(before or "")
    b = _TOKENS.findall(after or "")
    runs: list[tuple[str, str, str]] = []  # (tag, old text, new text)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        runs.append((tag, "".join(a[i1:i2]), "".join(b[j1:j2])))
    ops: list[tuple[str, str]] = []
    deleted = inserted = ""
    for index, (tag, old, new) in enumerate(runs):
        between = (
            0 < index < len(runs) - 1 and runs[index - 1][0] != "equal" and runs[index + 1][0] != "equal"
        )
        if tag != "equal" or (between and not old.strip()):
            deleted += old
            inserted += new
            continue
        if deleted:
            ops.append(("delete", deleted))
        if inserted:
            ops.append(("insert", inserted))
        deleted = inserted = ""
        ops.append(("equal", old))
    if deleted:
        ops.append(("delete", deleted))
    if inserted:
        ops.append(("insert", inserted))
    return ops


@dataclass
class ChunkState:
    """A passage to rate: what the model saw, labelled with the spans that returned it."""

    position: int
    doc_uri: str
    content: str
    # As the answer cites it: [1] is the first passage the model saw.
    number: int = 0
    rating: str = ""
    comment: str = ""
    spans: list[str] = field(default_factory=list)
    # What the comment input shows: the unsaved draft, else the saved comment.
    comment_text: str = ""
    has_draft: bool = False

    @property
    def draft_field(self) -> str:
        return f"chunk_comment_{self.position}"


@dataclass
class PanelState:
    req: Request
    url: str
    assessment: Assessment | None
    choices: list[str]
    rating: str = ""
    reasons: list[str] = field(default_factory=list)
    other_reason: str = ""
    comment: str = ""
    corrected_response: str | None = None
    correction_diff: list[tuple[str, str]] = field(default_factory=list)
    chunks: list[ChunkState] = field(default_factory=list)
    # Retrieved chunks the model did not see (another retriever's, before reranking): shown only.
    other_chunks: list[dict] = field(default_factory=list)
    missing_sources: list[dict] = field(default_factory=list)
    draft_url: str = ""
    # The reviewer's unsaved text by field (see drafts.py), those that differ from what is saved.
    drafts: dict[str, str] = field(default_factory=dict)

    @property
    def saved_correction_text(self) -> str:
        return self.req.response if self.corrected_response is None else self.corrected_response

    @property
    def correction_text(self) -> str:
        """What the correction editor holds: the draft, else the saved correction, else the answer."""
        return self.drafts.get("corrected_response", self.saved_correction_text)

    @property
    def comment_text(self) -> str:
        return self.drafts.get("comment", self.comment)

    @property
    def other_reason_text(self) -> str:
        return self.drafts.get("other_reason", self.other_reason)

    @property
    def missing_doc_uri_text(self) -> str:
        return self.drafts.get("missing_doc_uri", "")

    @property
    def missing_content_text(self) -> str:
        return self.drafts.get("missing_content", "")

    @property
    def other_checked(self) -> bool:
        return "other" in self.reasons


def panel_state(*, request: Request, reviewer, assessment: Assessment | None = None) -> PanelState:
    if assessment is None and getattr(reviewer, "is_authenticated", False):
        assessment = Assessment.objects.effective_for(request, reviewer)
    app = request.app
    state = PanelState(
        req=request,
        url=reverse("feedback-panel", args=[app.slug, request.request_id]),
        draft_url=reverse("feedback-draft", args=[app.slug, request.request_id]),
        assessment=assessment,
        choices=list(app.reasons or []),
    )
    ratings = {}
    if assessment is not None:
        state.rating = assessment.rating
        state.reasons = list(assessment.reasons or [])
        state.other_reason = assessment.other_reason
        state.comment = assessment.comment
        state.corrected_response = assessment.corrected_response
        if assessment.corrected_response is not None:
            state.correction_diff = diff_ops(request.response, assessment.corrected_response)
        state.missing_sources = list(assessment.missing_sources or [])
        ratings = passage_rules.ratings(assessment.retrieval_assessments, request.chunks, app.context_span)
    typed = draft_rules.drafts_for(request=request, reviewer=reviewer)
    for number, passage in enumerate(request.passages(), start=1):
        rated = ratings.get(passage["position"], {})
        chunk = ChunkState(
            position=passage["position"],
            doc_uri=passage["doc_uri"],
            content=passage["content"],
            number=number,
            rating=rated.get("rating", ""),
            comment=rated.get("comment", ""),
            spans=passage["spans"],
        )
        draft = typed.get(chunk.draft_field)
        chunk.has_draft = draft is not None and draft != chunk.comment
        chunk.comment_text = draft if chunk.has_draft else chunk.comment
        state.chunks.append(chunk)
    state.other_chunks = passage_rules.others(request.chunks, app.context_span)
    # A draft equal to what is saved is no unsaved text (a save that raced the draft's last write).
    saved = {
        "comment": state.comment,
        "other_reason": state.other_reason,
        "corrected_response": state.saved_correction_text,
        "missing_doc_uri": "",
        "missing_content": "",
    }
    state.drafts = {name: text for name, text in typed.items() if name in saved and text != saved[name]}
    return state


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


def drafts_saved(field: str, post: QueryDict) -> list[str]:
    """The drafts a successful save of `field` makes obsolete: the text fields it sent."""
    if field in ("chunk", "chunk_comment"):
        return [f"chunk_comment_{post.get('position', '')}"]
    if field == "corrected_response_clear":
        return ["corrected_response"]
    if field == "missing_add":
        return ["missing_doc_uri", "missing_content"]
    if field == "reasons" and "other" in post.getlist("reasons"):
        return ["other_reason"]
    return [field] if field in draft_rules.TEXT_FIELDS else []


def panel_group(field: str) -> str:
    """Which section's "saved" mark a field lights."""
    return {
        "corrected_response_clear": "corrected_response",
        "missing_add": "missing_sources",
        "missing_remove": "missing_sources",
    }.get(field, field)
