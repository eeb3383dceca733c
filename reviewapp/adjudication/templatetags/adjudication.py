from django import template

from reviewapp.adjudication.access import queues_to_adjudicate

register = template.Library()


@register.simple_tag(takes_context=True)
def adjudicated_queues(context) -> list:
    """The queues the signed-in user is named to adjudicate (managers find theirs on the queue page)."""
    user = context["request"].user
    return queues_to_adjudicate(user) if user.is_authenticated else []
