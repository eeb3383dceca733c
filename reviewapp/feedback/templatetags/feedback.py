from django import template

from reviewapp.feedback.history import CHUNK_WORDS, history_cards
from reviewapp.feedback.panel import PanelState, panel_state

register = template.Library()


@register.simple_tag
def feedback_panel_state(req, user) -> PanelState:
    """`{% feedback_panel_state req user as fb %}`: the panel of `user` on `req` (see panel.py)."""
    return panel_state(request=req, reviewer=user)


@register.inclusion_tag("feedback/panel.html#field-status", takes_context=True)
def field_status(context, saved_as: str, *error_fields: str, position=None) -> dict:
    """`{% field_status "comment" %}`: a panel control's "saved" mark, or its fields' errors.

    The errors of `error_fields` (default: the control's own); with `position`, only for that chunk.
    """
    here = position is None or context.get("saved_position") == position
    errors = context.get("errors") or {}
    return {
        "saved": here and context.get("saved") == saved_as,
        "messages": [errors[name] for name in error_fields or (saved_as,) if here and errors.get(name)],
    }


@register.simple_tag
def feedback_history(assessments, req) -> list:
    """`{% feedback_history assessments req as cards %}`: the rows as cards (see history.py)."""
    return history_cards(assessments, req)


@register.filter
def chunk_rating_words(rating: str) -> str:
    """`relevant` / `not_relevant` as people read them."""
    return CHUNK_WORDS.get(rating, "not rated")


@register.simple_tag
def passage_label(req, position) -> str:
    """ "passage [2]": a stored chunk position named as the answer cites it."""
    for number, passage in enumerate(req.passages(), 1):
        if passage["position"] == position:
            return f"passage [{number}]"
    return "a passage no longer shown"
