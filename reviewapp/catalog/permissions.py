"""The one place that decides who may do what on an app (DESIGN.md, "Permission levels").

HTML views and the API both call `get_app_for`: no level at all → 404 (the app's existence is
not leaked), a level below what the action needs → 403.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from reviewapp.accounts.models import User
from reviewapp.lib.compiled import CompiledQuery

from .models import App, Level

# What each action needs; the views name the action, never a raw level.
NEEDS = {
    "view": Level.CAN_VIEW,  # see the app in the list, read its instructions
    "query": Level.CAN_QUERY,  # chat with the app
    "feedback": Level.CAN_QUERY,  # give feedback on traces they can see
    "monitor": Level.CAN_MANAGE,  # dashboard, request log, all feedback, queues, export
    "update": Level.CAN_MANAGE,  # endpoint, version, instructions, feedback form
    "delete": Level.CAN_MANAGE,
    "permissions": Level.CAN_MANAGE,
}


def _app_with_level(shape: tuple[bool], *, slug: str, user_id: int):
    (staff,) = shape
    as_user = User(pk=user_id, is_active=True, is_staff=staff)  # what with_level reads of a user
    return App.objects.with_level(as_user).filter(slug=slug).order_by("pk")[:1]


# Every page and API call of an app starts here: compiled once per process (lib/compiled.py).
APP_WITH_LEVEL = CompiledQuery(App, _app_with_level)


def get_app_for(user, slug: str, action: str = "view") -> App:
    """The app `slug` as seen by `user`, with `app.level` set; 404 or 403 otherwise."""
    need = NEEDS[action]
    app = None
    if user.is_authenticated and user.is_active:
        staff = user.is_staff or user.is_superuser
        app = APP_WITH_LEVEL.first((staff,), slug=slug, user_id=user.pk)
    if app is None or (app.level or Level.NONE) < Level.CAN_VIEW:
        raise Http404("No such app")
    app.level = Level(app.level)
    if app.level < need:
        raise PermissionDenied(f"This needs “{need.words}” on the app; you have “{app.level.words}”")
    return app


def can(app: App, action: str) -> bool:
    """For templates and views that already hold an app from `get_app_for`/`visible_to`."""
    return (getattr(app, "level", None) or Level.NONE) >= NEEDS[action]
