from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from reviewapp.lib.forms import render_page, show_service_errors

from .forms import TokenForm
from .models import ApiToken


def _render_tokens(request: HttpRequest, form: TokenForm, new_token: str = "", revoked=None) -> HttpResponse:
    context = {
        "tokens": request.user.api_tokens.all(),
        "form": form,
        "new_token": new_token,
        "revoked": revoked,
        "nav": "tokens",
    }
    part = "tokens-section" if request.method == "POST" else None
    return render_page(request, "accounts/token_list.html", context, part=part, forms=[form])


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """List tokens; POST creates one, whose value is shown in this answer only (never stored)."""
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            _token, raw = ApiToken.issue(user=request.user, name=form.cleaned_data["name"])
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            return _render_tokens(request, TokenForm(), new_token=raw)
    return _render_tokens(request, form)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of the user's own tokens; the next call made with it gets 401."""
    token = request.user.api_tokens.filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token")
    request.user.api_tokens.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if not request.htmx:
        return redirect("token-list")
    return _render_tokens(request, TokenForm(), revoked=token)
