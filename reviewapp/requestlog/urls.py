from django.urls import path

from . import api, views

urlpatterns = [
    path("apps/<slug:slug>/requests/", views.request_log, name="requestlog"),
    path("apps/<slug:slug>/requests/import/", views.request_import, name="request-import"),
    path(
        "apps/<slug:slug>/requests/import/sample.jsonl",
        views.request_import_sample,
        name="request-import-sample",
    ),
    path("apps/<slug:slug>/requests/add-to-queue/", views.add_to_queue, name="request-add-to-queue"),
    path("apps/<slug:slug>/requests/<uuid:request_id>/", views.request_detail, name="request-detail"),
]
api_urlpatterns = [
    path("apps/<slug:slug>/request-logs", api.RequestLogApi.as_view(), name="api-request-logs"),
    path("apps/<slug:slug>/traces:import", api.TracesImportApi.as_view(), name="api-traces-import"),
]
