from django.urls import path

from . import api, views
from .views_metrics import metrics_view

urlpatterns = [
    # For Prometheus, at the site's root.
    path("metrics", metrics_view, name="metrics"),
    path("apps/<slug:slug>/dashboard/", views.dashboard, name="app-dashboard"),
    path("apps/<slug:slug>/dashboard/<slug:chart>.csv", views.chart_csv, name="app-dashboard-csv"),
    path("apps/<slug:slug>/dashboard/<slug:chart>/", views.chart_table, name="app-dashboard-chart"),
]
api_urlpatterns = [
    path("apps/<slug:slug>/quality", api.QualityApi.as_view(), name="api-quality"),
]
