from django.urls import path

from . import api, views

urlpatterns = [
    path("apps/<slug:slug>/chat/", views.chat, name="chat"),
    path("apps/<slug:slug>/chat/stream/", views.chat_stream, name="chat-stream"),
    path("apps/<slug:slug>/chat/turns/<uuid:request_id>/", views.chat_turn, name="chat-turn"),
]
api_urlpatterns = [
    path("apps/<slug:slug>/invocations", api.InvocationsApi.as_view(), name="api-invocations"),
]
