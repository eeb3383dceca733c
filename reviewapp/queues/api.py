from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.accounts.models import User
from reviewapp.catalog.permissions import get_app_for
from reviewapp.comparisons import api as comparison_api
from reviewapp.lib.serializers import validated

from . import services
from .models import ReviewQueue
from .serializers import (
    AddResultOutput,
    QueueCreateInput,
    QueueDetailOutput,
    QueueItemsInput,
    QueueOutput,
)


def _users_by_email(emails: list[str]) -> list[User]:
    users = {u.email.lower(): u for u in User.objects.filter(email__in=[e.lower() for e in emails])}
    unknown = [e for e in emails if e.lower() not in users]
    if unknown:
        raise serializers.ValidationError({"reviewers": [f"no such user: {', '.join(unknown)}"]})
    return [users[e.lower()] for e in emails]


def _add_result(queue: ReviewQueue, result: services.AddResult) -> dict:
    return {
        "added": len(result.added),
        "already_in_queue": result.already_in_queue,
        "items": queue.items.count(),
    }


class QueueListApi(APIView):
    @extend_schema(responses=QueueOutput(many=True), summary="The app's review queues, with progress")
    def get(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        queues = app.queues.prefetch_related("reviewers").select_related("created_by", "app")
        return Response(QueueOutput(queues, many=True).data)

    @extend_schema(
        request=QueueCreateInput,
        responses={
            201: inline_serializer("QueueCreated", {"queue": QueueOutput(), "items": AddResultOutput()}),
            409: OpenApiResponse(description="The app already has a queue of that name"),
        },
        summary="Create a review queue, optionally with its first requests",
    )
    def post(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        if isinstance(request.data, dict) and request.data.get("mode") == ReviewQueue.Mode.PAIRWISE:
            return comparison_api.create_pairwise(request, app)
        data = validated(QueueCreateInput, request)
        fields = dict(data)
        fields["reviewers"] = _users_by_email(fields["reviewers"])
        queue, result = services.create_queue(app=app, created_by=request.user, **fields)
        return Response(
            {"queue": QueueOutput(queue).data, "items": _add_result(queue, result)},
            status=status.HTTP_201_CREATED,
        )


class QueueDetailApi(APIView):
    @extend_schema(responses=QueueDetailOutput, summary="A review queue: progress per reviewer and agreement")
    def get(self, request, slug, queue_id):
        app = get_app_for(request.user, slug, "monitor")
        queue = get_object_or_404(app.queues, pk=queue_id)
        return Response(QueueDetailOutput(queue).data)


class QueueItemsApi(APIView):
    @extend_schema(
        request=QueueItemsInput,
        responses=AddResultOutput,
        summary="Add requests to a review queue (a request already in it is left alone)",
    )
    def post(self, request, slug, queue_id):
        app = get_app_for(request.user, slug, "monitor")
        queue = get_object_or_404(app.queues, pk=queue_id)
        data = validated(QueueItemsInput, request)
        result = services.add_items(queue=queue, request_ids=data["request_ids"])
        return Response(_add_result(queue, result))
