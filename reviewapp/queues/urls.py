from django.urls import path

from . import api, views

urlpatterns = [
    path("apps/<slug:slug>/queues/", views.queue_list, name="queue-list"),
    path("apps/<slug:slug>/queues/new/", views.queue_create, name="queue-create"),
    path("apps/<slug:slug>/queues/fill/", views.queue_fill, name="queue-fill"),
    path("apps/<slug:slug>/queues/<int:queue_id>/", views.queue_detail, name="queue-detail"),
    path("apps/<slug:slug>/queues/<int:queue_id>/items/", views.queue_add_items, name="queue-add-items"),
    path("apps/<slug:slug>/queues/<int:queue_id>/edit/", views.queue_edit, name="queue-edit"),
    path(
        "apps/<slug:slug>/queues/<int:queue_id>/items/remove/",
        views.queue_remove_items,
        name="queue-remove-items",
    ),
    path("apps/<slug:slug>/queues/<int:queue_id>/requeue/", views.queue_requeue, name="queue-requeue"),
    path("queues/", views.my_queues, name="my-queues"),
    path("queues/<int:queue_id>/review/", views.review_next, name="review-next"),
    path("queues/<int:queue_id>/review/<int:item_id>/", views.review_item, name="review-item"),
    path("queues/<int:queue_id>/review/<int:item_id>/submit/", views.review_submit, name="review-submit"),
    path("queues/<int:queue_id>/review/<int:item_id>/draft/", views.review_draft, name="review-draft"),
]
api_urlpatterns = [
    path("apps/<slug:slug>/review-queues", api.QueueListApi.as_view(), name="api-queue-list"),
    path(
        "apps/<slug:slug>/review-queues/<int:queue_id>", api.QueueDetailApi.as_view(), name="api-queue-detail"
    ),
    path(
        "apps/<slug:slug>/review-queues/<int:queue_id>/items",
        api.QueueItemsApi.as_view(),
        name="api-queue-items",
    ),
    path(
        "apps/<slug:slug>/review-queues/fill",
        api.QueueCreateFilledApi.as_view(),
        name="api-queue-create-filled",
    ),
    path(
        "apps/<slug:slug>/review-queues/<int:queue_id>/fill",
        api.QueueFillApi.as_view(),
        name="api-queue-fill",
    ),
    path(
        "apps/<slug:slug>/review-queues/<int:queue_id>/items/remove",
        api.QueueItemsRemoveApi.as_view(),
        name="api-queue-items-remove",
    ),
    path(
        "apps/<slug:slug>/review-queues/<int:queue_id>/requeue",
        api.QueueRequeueApi.as_view(),
        name="api-queue-requeue",
    ),
]
