from django.urls import path

from . import api, views

urlpatterns = [
    path("settings/tokens/", views.token_list, name="token-list"),
    path("settings/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
]
api_urlpatterns = [
    path("me", api.MeApi.as_view(), name="api-me"),
    path("tokens", api.TokenListApi.as_view(), name="api-token-list"),
    path("tokens/<int:token_id>", api.TokenDetailApi.as_view(), name="api-token-detail"),
]
