from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import health


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("app-list")
    return render(request, "front/home.html")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    status, body = health.report()
    return JsonResponse(health.shown_to(request, body), status=status)
