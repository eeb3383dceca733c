from django import template
from django.utils.html import format_html

from reviewapp.catalog.markdown import render_markdown
from reviewapp.catalog.models import Level
from reviewapp.catalog.permissions import NEEDS

register = template.Library()

_BADGES = {
    Level.CAN_MANAGE: ("badge-manage", "chat, review, see the log and dashboard, change settings and access"),
    Level.CAN_QUERY: ("badge-query", "chat with the app and give feedback"),
    Level.CAN_VIEW: ("badge-view", "see the app and its instructions"),
}


def _level_of(app, request) -> Level:
    level = getattr(app, "level", None)
    if level is None and request is not None:
        # A page that loaded the app without `get_app_for`: work the level out once.
        level = app.level_for(request.user)
        app.level = level
    return Level(level or Level.NONE)


@register.simple_tag(takes_context=True)
def app_can(context, app, action: str) -> bool:
    """`{% app_can app "monitor" as can_monitor %}`: the permissions.NEEDS rule, for templates."""
    return _level_of(app, context.get("request")) >= NEEDS[action]


@register.filter
def level_badge(level) -> str:
    """A coloured badge for a permission level (an int, a Level or its name)."""
    if isinstance(level, str) and not (level.isascii() and level.isdigit()):
        level = Level.parse(level) if level in Level.names else Level.NONE
    level = Level(int(level or 0))
    css, allows = _BADGES.get(level, ("", "nothing on this app"))
    text = level.words
    return format_html('<span class="badge {}" title="{}: {}">{}</span>', css, text, allows, text)


@register.filter
def markdown(text):
    return render_markdown(text)
