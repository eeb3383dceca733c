from django.urls import path

from . import api, views

urlpatterns = [
    path("apps/<slug:slug>/judges/", views.judge_list, name="judge-list"),
    path(
        "apps/<slug:slug>/judges/examples/<int:pk>/config/",
        views.examples_config,
        name="judge-examples-config",
    ),
    path("apps/<slug:slug>/judges/<str:name>/", views.judge_detail, name="judge-detail"),
    path("apps/<slug:slug>/judges/<str:name>/change/", views.change_judge, name="judge-change"),
    path("apps/<slug:slug>/judges/<str:name>/run/", views.run_judge, name="judge-run"),
    path("apps/<slug:slug>/judges/<str:name>/delete/", views.delete_judge, name="judge-delete"),
    path("apps/<slug:slug>/judges/<str:name>/queue/", views.queue_disagreements, name="judge-queue"),
    path("apps/<slug:slug>/judges/<str:name>/tune/", views.tune_judge, name="judge-tune"),
]
api_urlpatterns = [
    path("apps/<slug:slug>/judges", api.JudgeListApi.as_view(), name="api-judges"),
    path("apps/<slug:slug>/judges/<str:name>", api.JudgeDetailApi.as_view(), name="api-judge"),
    path("apps/<slug:slug>/judges/<str:name>/runs", api.JudgeRunApi.as_view(), name="api-judge-runs"),
    path("apps/<slug:slug>/judges/<str:name>/tunings", api.JudgeTuneApi.as_view(), name="api-judge-tunings"),
    path(
        "apps/<slug:slug>/judges/<str:name>/agreement",
        api.JudgeAgreementApi.as_view(),
        name="api-judge-agreement",
    ),
]
