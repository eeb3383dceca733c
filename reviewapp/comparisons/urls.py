from django.urls import path

from . import api, views

urlpatterns = [
    path("apps/<slug:slug>/queues/pairwise/new/", views.pairwise_create, name="pairwise-create"),
    path(
        "apps/<slug:slug>/queues/<int:queue_id>/preferences.jsonl",
        views.preferences_download,
        name="preferences-download",
    ),
    path(
        "apps/<slug:slug>/queues/<int:queue_id>/preferences/mlflow/",
        views.preferences_mlflow,
        name="preferences-mlflow",
    ),
    path("queues/<int:queue_id>/review/<int:item_id>/pick/", views.pair_submit, name="pair-submit"),
]
api_urlpatterns = [
    path(
        "apps/<slug:slug>/review-queues/<int:queue_id>/comparison",
        api.ComparisonApi.as_view(),
        name="api-queue-comparison",
    ),
    path(
        "apps/<slug:slug>/review-queues/<int:queue_id>/preferences",
        api.PreferencesApi.as_view(),
        name="api-queue-preferences",
    ),
    path(
        "apps/<slug:slug>/review-queues/<int:queue_id>/preferences/mlflow",
        api.PreferencesMlflowApi.as_view(),
        name="api-queue-preferences-mlflow",
    ),
]
