from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from reviewapp.catalog.permissions import get_app_for
from reviewapp.lib.forms import show_service_errors

from . import services
from .forms import GoldForm


def _back(request: HttpRequest, app) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("requestlog", args=[app.slug])


def _gold_change(request: HttpRequest, slug: str, *, mark: bool) -> HttpResponse:
    app = get_app_for(request.user, slug, "monitor")
    form = GoldForm(request.POST)
    if form.is_valid():
        try:
            if mark:
                marked = services.mark_gold(app=app, request_ids=form.ids(), by=request.user)
                text = f"Marked {len(marked)} request{'s' if len(marked) != 1 else ''} as gold."
            else:
                removed = services.unmark_gold(app=app, request_ids=form.ids())
                text = f"Took {removed} request{'s' if removed != 1 else ''} out of the gold set."
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, text)
            return redirect(_back(request, app))
    # What was typed comes back with the error beside it.
    context = {"app": app, "form": form, "mark": mark, "back": _back(request, app), "nav": "apps"}
    return render(request, "reliability/gold_form.html", context, status=400)


@login_required
@require_POST
def gold_mark(request: HttpRequest, slug: str) -> HttpResponse:
    return _gold_change(request, slug, mark=True)


@login_required
@require_POST
def gold_unmark(request: HttpRequest, slug: str) -> HttpResponse:
    return _gold_change(request, slug, mark=False)
