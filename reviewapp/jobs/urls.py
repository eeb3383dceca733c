from django.urls import path

from . import api, views

urlpatterns = [
    path("jobs/<uuid:job_id>/", views.job_progress, name="job-progress"),
    path("jobs/<uuid:job_id>/cancel/", views.job_cancel, name="job-cancel"),
]
api_urlpatterns = [
    path("jobs/<uuid:job_id>", api.JobDetailApi.as_view(), name="api-job-detail"),
    path("jobs/<uuid:job_id>/cancel", api.JobCancelApi.as_view(), name="api-job-cancel"),
]
