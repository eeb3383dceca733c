from django import template

from reviewapp.feedback.panel import PanelState, panel_state

register = template.Library()


@register.simple_tag
def feedback_panel_state(req, user) -> PanelState:
    """`{% feedback_panel_state req user as fb %}`: the panel of `user` on `req` (see panel.py)."""
    return panel_state(request=req, reviewer=user)
