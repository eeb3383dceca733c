from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import ReviewQueue


@login_required
def my_queues(request: HttpRequest) -> HttpResponse:
    queues = ReviewQueue.objects.filter(reviewers=request.user).select_related("app")
    return render(request, "queues/my_queues.html", {"queues": queues, "nav": "queues"})
