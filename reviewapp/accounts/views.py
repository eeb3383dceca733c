from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    tokens = request.user.api_tokens.all()
    return render(request, "accounts/token_list.html", {"tokens": tokens, "nav": "tokens"})
