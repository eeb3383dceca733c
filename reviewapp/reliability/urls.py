from django.urls import path

from . import api, views

urlpatterns = [
    path("apps/<slug:slug>/gold/", views.gold_mark, name="gold-mark"),
    path("apps/<slug:slug>/gold/remove/", views.gold_unmark, name="gold-unmark"),
]
api_urlpatterns = [
    path(
        "apps/<slug:slug>/review-queues/<int:queue_id>/reviewers",
        api.QueueReviewersApi.as_view(),
        name="api-queue-reviewers",
    ),
    path("apps/<slug:slug>/gold", api.GoldListApi.as_view(), name="api-gold-list"),
    path("apps/<slug:slug>/gold/<str:request_id>", api.GoldDetailApi.as_view(), name="api-gold-detail"),
]
