"""The comparison results other apps' pages show: one tag each, so their templates need one line."""

from django import template

from ..models import Comparison
from ..results import comparison_result

register = template.Library()


@register.inclusion_tag("comparisons/queue_results.html")
def comparison_results(queue):
    """A pairwise queue's win rates, its pairs' state and the preference exports (nothing otherwise)."""
    comparison = Comparison.objects.filter(queue=queue).select_related("job").first()
    if comparison is None:
        return {"result": None}
    return {"queue": queue, "comparison": comparison, "result": comparison_result(comparison)}


@register.inclusion_tag("comparisons/dashboard_results.html")
def app_comparison_results(app):
    """The win rates of each of the app's pairwise queues, newest first."""
    comparisons = (
        Comparison.objects.filter(queue__app=app).select_related("queue").order_by("-created_at")[:20]
    )
    return {"app": app, "rows": [(c.queue, comparison_result(c, failures=0)) for c in comparisons]}
