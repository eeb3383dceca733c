from django.urls import path

from . import api, views

urlpatterns = [
    path(
        "apps/<slug:slug>/requests/<uuid:request_id>/feedback/",
        views.feedback_panel,
        name="feedback-panel",
    ),
    path(
        "apps/<slug:slug>/requests/<uuid:request_id>/feedback/draft/",
        views.feedback_draft,
        name="feedback-draft",
    ),
]
api_urlpatterns = [
    path("apps/<slug:slug>/feedback", api.FeedbackApi.as_view(), name="api-feedback"),
    path("apps/<slug:slug>/assessments", api.AssessmentListApi.as_view(), name="api-assessments"),
    path("apps/<slug:slug>/requests/<str:request_id>", api.ReviewItemApi.as_view(), name="api-review-item"),
]
