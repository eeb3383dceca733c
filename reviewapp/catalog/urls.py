from django.urls import path

from . import views

urlpatterns = [
    path("apps/", views.app_list, name="app-list"),
]
api_urlpatterns = []
