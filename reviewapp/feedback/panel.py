"""What the feedback panel shows: one reviewer's effective feedback on one request."""

import difflib
import re
from dataclasses import dataclass, field

from django.urls import reverse

from reviewapp.requestlog.models import Request

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
    position: int
    doc_uri: str
    content: str
    rating: str = ""
    comment: str = ""


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
    missing_sources: list[dict] = field(default_factory=list)

    @property
    def correction_text(self) -> str:
        """What the correction editor starts with: the saved correction, else the answer."""
        return self.req.response if self.corrected_response is None else self.corrected_response

    @property
    def other_checked(self) -> bool:
        return "other" in self.reasons


def effective_for(*, request: Request, reviewer) -> Assessment | None:
    return (
        Assessment.objects.filter(request=request, reviewer=reviewer).order_by("-created_at", "-id").first()
    )


def panel_state(*, request: Request, reviewer, assessment: Assessment | None = None) -> PanelState:
    if assessment is None and getattr(reviewer, "is_authenticated", False):
        assessment = effective_for(request=request, reviewer=reviewer)
    app = request.app
    state = PanelState(
        req=request,
        url=reverse("feedback-panel", args=[app.slug, request.request_id]),
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
        ratings = {item["position"]: item for item in assessment.retrieval_assessments or []}
    for chunk in request.chunks or []:
        rated = ratings.get(chunk.get("position"), {})
        state.chunks.append(
            ChunkState(
                position=chunk.get("position"),
                doc_uri=chunk.get("doc_uri", ""),
                content=chunk.get("content", ""),
                rating=rated.get("rating", ""),
                comment=rated.get("comment", ""),
            )
        )
    return state
