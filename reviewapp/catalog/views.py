from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import App


@login_required
def app_list(request: HttpRequest) -> HttpResponse:
    apps = App.objects.visible_to(request.user).order_by("name")
    return render(request, "catalog/app_list.html", {"apps": apps, "nav": "apps"})
