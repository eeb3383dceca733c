from django import template

from reviewapp.reliability import services
from reviewapp.reliability.forms import GoldForm
from reviewapp.reliability.models import GoldItem

register = template.Library()


@register.inclusion_tag("reliability/reviewers.html", takes_context=True)
def reviewer_reliability(context, queue):
    """The queue page's section on each reviewer (managers only: the page is theirs)."""
    request = context["request"]
    return {
        "csrf_token": context.get("csrf_token"),
        "app": queue.app,
        "queue": queue,
        "reliability": services.queue_reliability(queue=queue),
        "gold_count": GoldItem.objects.for_app(queue.app).count(),
        "gold_form": GoldForm(initial={"next": request.get_full_path()}),
    }


@register.inclusion_tag("reliability/gold_toggle.html", takes_context=True)
def gold_toggle(context, app, turn):
    """On a request's page: its answer key when it is gold, and the button to mark or unmark it."""
    return {
        "csrf_token": context.get("csrf_token"),
        "app": app,
        "turn": turn,
        "gold": GoldItem.objects.filter(app=app, request=turn).first(),
        "next": context["request"].get_full_path(),
    }
