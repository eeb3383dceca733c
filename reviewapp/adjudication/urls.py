from django.urls import path

from . import api, views

urlpatterns = [
    path(
        "apps/<slug:slug>/queues/<int:queue_id>/adjudication/",
        views.adjudication_list,
        name="adjudication-list",
    ),
    path(
        "apps/<slug:slug>/queues/<int:queue_id>/adjudication/<uuid:request_id>/",
        views.adjudication_case,
        name="adjudication-case",
    ),
]
api_urlpatterns = [
    path(
        "apps/<slug:slug>/review-queues/<int:queue_id>/adjudications",
        api.AdjudicationListApi.as_view(),
        name="api-adjudication-list",
    ),
    path(
        "apps/<slug:slug>/review-queues/<int:queue_id>/adjudications/<uuid:request_id>",
        api.AdjudicationApi.as_view(),
        name="api-adjudication",
    ),
]
