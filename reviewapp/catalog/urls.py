from django.urls import path

from . import api, views

urlpatterns = [
    path("apps/", views.app_list, name="app-list"),
    path("apps/new/", views.app_create, name="app-create"),
    path("apps/<slug:slug>/", views.app_detail, name="app-detail"),
    path("apps/<slug:slug>/settings/", views.app_settings, name="app-settings"),
    path("apps/<slug:slug>/delete/", views.app_delete, name="app-delete"),
    path("apps/<slug:slug>/permissions/", views.app_permissions, name="app-permissions"),
    path("apps/<slug:slug>/audit/", views.app_audit, name="app-audit"),
]
api_urlpatterns = [
    path("apps", api.AppListApi.as_view(), name="api-app-list"),
    path("apps/<slug:slug>", api.AppDetailApi.as_view(), name="api-app-detail"),
    path("apps/<slug:slug>/permissions", api.AppPermissionsApi.as_view(), name="api-app-permissions"),
    path("apps/<slug:slug>/instructions", api.AppInstructionsApi.as_view(), name="api-app-instructions"),
]
