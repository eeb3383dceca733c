from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from reviewapp.lib.forms import show_service_errors, status_for

from . import disputes, services
from .access import get_queue_to_adjudicate
from .forms import AdjudicationForm


@login_required
def adjudication_list(request: HttpRequest, slug: str, queue_id: int) -> HttpResponse:
    """The queue's disputed items: the open ones, then the settled ones."""
    queue = get_queue_to_adjudicate(request.user, slug, queue_id)
    found = disputes.cases(queue)
    context = {
        "app": queue.app,
        "queue": queue,
        "open": [c for c in found if not c.settled],
        "settled": [c for c in found if c.settled],
        "nav": "apps",
    }
    return render(request, "adjudication/list.html", context)


def _case_or_404(queue, request_id) -> disputes.Case:
    case = disputes.case_for(queue, request_id)
    if case is None:
        raise Http404("The reviewers of this queue do not disagree on that request")
    return case


def _passage_rows(case: disputes.Case) -> list[dict]:
    """Each passage with every reviewer's rating of it, in the reviewers' order."""
    settled = case.adjudication.relevance() if case.adjudication else {}
    return [
        {
            "passage": passage,
            "ratings": [review.chunks.get(passage["position"]) for review in case.reviews],
            "disputed": passage["position"] in case.disputed_passages,
            "settled": settled.get(passage["position"]),
        }
        for passage in case.request.passages()
    ]


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def adjudication_case(request: HttpRequest, slug: str, queue_id: int, request_id) -> HttpResponse:
    """Every reviewer's feedback side by side, and the form that settles the item."""
    queue = get_queue_to_adjudicate(request.user, slug, queue_id)
    case = _case_or_404(queue, request_id)
    if request.method == "POST":
        form = AdjudicationForm(request.POST, case=case)
        if form.is_valid():
            try:
                services.adjudicate(
                    queue=queue, case=case, adjudicator=request.user, **form.service_arguments()
                )
            except ValidationError as error:
                show_service_errors(form, error, {"pick": "choice"})
            else:
                messages.success(request, "Settled: the final label is saved.")
                return redirect("adjudication-list", queue.app.slug, queue.pk)
    else:
        form = AdjudicationForm(initial=AdjudicationForm.initial_for(case), case=case)
    context = {
        "app": queue.app,
        "queue": queue,
        "case": case,
        "req": case.request,
        "form": form,
        "passage_rows": _passage_rows(case),
        "history": services.history(queue, case),
        "nav": "apps",
    }
    return render(request, "adjudication/case.html", context, status=status_for(form))
