from django import template

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
