from django.urls import path

from . import api, views

urlpatterns = [
    path("jobs/<uuid:job_id>/", views.job_progress, name="job-progress"),
]
api_urlpatterns = [
    path("jobs/<uuid:job_id>", api.JobDetailApi.as_view(), name="api-job-detail"),
]
