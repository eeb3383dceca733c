from django.urls import path

from . import views

urlpatterns = [
    path("queues/", views.my_queues, name="my-queues"),
]
api_urlpatterns = []
