from django.urls import path

from . import api, views

urlpatterns = [
    path("apps/<slug:slug>/curate/", views.curate, name="curate"),
    path("apps/<slug:slug>/curate/evaluation-set/", views.start_evaluation_set, name="curate-evaluation-set"),
    path("apps/<slug:slug>/curate/judge-examples/", views.start_judge_examples, name="curate-judge-examples"),
    path("apps/<slug:slug>/exports/", views.export_list, name="export-list"),
    path(
        "apps/<slug:slug>/exports/sets/<str:name>/v<int:number>/",
        views.version_detail,
        name="evaluation-set-version",
    ),
    path(
        "apps/<slug:slug>/exports/sets/<str:name>/v<int:number>/files/<str:filename>",
        views.version_file,
        name="evaluation-set-file",
    ),
    path("apps/<slug:slug>/exports/judges/<int:pk>/", views.judge_export_detail, name="judge-export"),
    path(
        "apps/<slug:slug>/exports/judges/<int:pk>/files/<str:filename>",
        views.judge_export_file,
        name="judge-export-file",
    ),
]
api_urlpatterns = [
    path("apps/<slug:slug>/evaluation-sets", api.EvaluationSetListApi.as_view(), name="api-evaluation-sets"),
    path(
        "apps/<slug:slug>/evaluation-sets/<str:name>/versions/<int:number>",
        api.VersionDetailApi.as_view(),
        name="api-evaluation-set-version",
    ),
    path(
        "apps/<slug:slug>/evaluation-sets/<str:name>/versions/<int:number>/files/<str:filename>",
        api.VersionFileApi.as_view(),
        name="api-evaluation-set-file",
    ),
    path("apps/<slug:slug>/judge-examples", api.JudgeExportListApi.as_view(), name="api-judge-examples"),
    path(
        "apps/<slug:slug>/judge-examples/<int:pk>",
        api.JudgeExportDetailApi.as_view(),
        name="api-judge-export",
    ),
    path(
        "apps/<slug:slug>/judge-examples/<int:pk>/files/<str:filename>",
        api.JudgeExportFileApi.as_view(),
        name="api-judge-export-file",
    ),
    path("apps/<slug:slug>/custom-judges", api.CustomJudgeListApi.as_view(), name="api-custom-judges"),
]
