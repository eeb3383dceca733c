"""Drafts: what a reviewer is typing in the panel's text fields, kept until the field is saved.

A draft is no feedback: it is never an assessment, never counted and never sent to MLflow. It only
lets a reload, a closed tab or a crash give back what was typed and not saved yet.
"""

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from reviewapp.lib.parsers import problem_in

from .models import FeedbackDraft
from .services import TEXT_LIMIT_BYTES

TEXT_FIELDS = {"comment", "other_reason", "corrected_response", "missing_doc_uri", "missing_content"}
_CHUNK_COMMENT = re.compile(r"chunk_comment_[0-9]{1,6}")


def is_draft_field(field: str) -> bool:
    return field in TEXT_FIELDS or bool(_CHUNK_COMMENT.fullmatch(field))


@transaction.atomic
def save_draft(*, request, reviewer, field: str, text) -> FeedbackDraft:
    """Keep `text` as `reviewer`'s draft of `field` on `request`, replacing the one before."""
    if not isinstance(field, str) or not is_draft_field(field):
        raise ValidationError({"field": "Not a text field of the feedback panel."})
    if not isinstance(text, str):
        raise ValidationError({"text": "Must be a string."})
    if problem := problem_in({"text": text}):
        raise ValidationError({"text": f"{problem[0].upper()}{problem[1:]}, which cannot be stored."})
    if len(text.encode()) > TEXT_LIMIT_BYTES:
        raise ValidationError({"text": f"Too long: at most {TEXT_LIMIT_BYTES // 1024} kB."})
    draft, _ = FeedbackDraft.objects.update_or_create(
        request=request,
        reviewer=reviewer,
        field=field,
        defaults={"text": text, "updated_at": timezone.now()},
    )
    return draft


def drafts_for(*, request, reviewer) -> dict[str, str]:
    """{field: text} of `reviewer`'s drafts on `request`."""
    if not getattr(reviewer, "is_authenticated", False):
        return {}
    return dict(FeedbackDraft.objects.filter(request=request, reviewer=reviewer).values_list("field", "text"))


def clear_drafts(*, request, reviewer, fields) -> None:
    """The fields were saved (or discarded): their drafts are no longer needed."""
    fields = list(fields)
    if fields:
        FeedbackDraft.objects.filter(request=request, reviewer=reviewer, field__in=fields).delete()
