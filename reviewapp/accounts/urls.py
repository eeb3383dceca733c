from django.urls import path

from . import views

urlpatterns = [
    path("settings/tokens/", views.token_list, name="token-list"),
]
api_urlpatterns = []
