from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.accounts.models import User
from reviewapp.catalog.permissions import get_app_for
from reviewapp.comparisons import api as comparison_api
from reviewapp.lib.serializers import validated

from . import progress, sampling, services
from .models import ReviewQueue
from .serializers import (
    AddResultOutput,
    FillOutput,
    FillRulesInput,
    ItemFilterInput,
    QueueCreateInput,
    QueueDetailOutput,
    QueueFillCreateInput,
    QueueItemOutput,
    QueueItemsInput,
    QueueItemsPageOutput,
    QueueOutput,
    QueueUpdateInput,
    RemoveResultOutput,
    RequeueInput,
    RequeueOutput,
)

# Fields of a queue that name people by email.
PEOPLE = ("reviewers", "add_reviewers", "remove_reviewers", "adjudicators")


def _users_by_email(emails: list[str], field: str = "reviewers") -> list[User]:
    users = {u.email.lower(): u for u in User.objects.filter(email__in=[e.lower() for e in emails])}
    unknown = [e for e in emails if e.lower() not in users]
    if unknown:
        raise serializers.ValidationError({field: [f"no such user: {', '.join(unknown)}"]})
    return [users[e.lower()] for e in emails]


def _with_users(data: dict) -> dict:
    fields = dict(data)
    for name in PEOPLE:
        if name in fields:
            fields[name] = _users_by_email(fields[name], name)
    return fields


class ItemsPage(PageNumberPagination):
    page_size = 50


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

    _created = inline_serializer("QueueCreated", {"queue": QueueOutput(), "items": AddResultOutput()})
    # A pairwise queue ("mode": "pairwise") is created by reviewapp.comparisons.
    _create_body, _created_any = comparison_api.create_schemas(QueueCreateInput, _created)

    @extend_schema(
        request=_create_body,
        responses={
            201: _created_any,
            409: OpenApiResponse(description="The app already has a queue of that name"),
        },
        summary="Create a review queue, optionally with its first requests",
    )
    def post(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        if isinstance(request.data, dict) and request.data.get("mode") == ReviewQueue.Mode.PAIRWISE:
            return comparison_api.create_pairwise(request, app)
        fields = _with_users(validated(QueueCreateInput, request))
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

    @extend_schema(
        request=QueueUpdateInput,
        responses={
            200: QueueDetailOutput,
            409: OpenApiResponse(description="The app already has a queue of that name"),
        },
        summary="Change a review queue's settings (any of them, at any time; each change is audit-logged)",
    )
    def patch(self, request, slug, queue_id):
        app = get_app_for(request.user, slug, "monitor")
        queue = get_object_or_404(app.queues, pk=queue_id)
        changes = _with_users(validated(QueueUpdateInput, request))
        services.update_queue(queue=queue, actor=request.user, changes=changes)
        return Response(QueueDetailOutput(queue).data)


class QueueItemsApi(APIView):
    @extend_schema(
        parameters=[ItemFilterInput],
        responses={200: QueueItemsPageOutput, 404: OpenApiResponse(description="No such page")},
        summary="A review queue's items, in queue order, paged and filtered",
    )
    def get(self, request, slug, queue_id):
        app = get_app_for(request.user, slug, "monitor")
        queue = get_object_or_404(app.queues, pk=queue_id)
        given = ItemFilterInput(data=request.query_params)
        given.is_valid(raise_exception=True)
        chosen = given.validated_data
        items = progress.queue_items(
            queue=queue,
            status=chosen.get("status", ""),
            reviewer=chosen.get("reviewer", ""),
            disagreement=chosen.get("disagreement", False),
        ).prefetch_related("reservations__reviewer")
        pages = ItemsPage()
        page = pages.paginate_queryset(items, request, view=self)
        return pages.get_paginated_response(QueueItemOutput(page, many=True).data)

    @extend_schema(
        request=QueueItemsInput,
        responses=AddResultOutput,
        summary="Add requests to a review queue (a request already in it is left alone)",
    )
    def post(self, request, slug, queue_id):
        app = get_app_for(request.user, slug, "monitor")
        queue = get_object_or_404(app.queues, pk=queue_id)
        data = validated(QueueItemsInput, request)
        result = services.add_items(queue=queue, request_ids=data["request_ids"], actor=request.user)
        return Response(_add_result(queue, result))


class QueueItemsRemoveApi(APIView):
    @extend_schema(
        request=QueueItemsInput,
        responses=RemoveResultOutput,
        summary="Take requests out of a review queue (their feedback stays in the assessment log)",
    )
    def post(self, request, slug, queue_id):
        app = get_app_for(request.user, slug, "monitor")
        queue = get_object_or_404(app.queues, pk=queue_id)
        data = validated(QueueItemsInput, request)
        result = services.remove_items(queue=queue, request_ids=data["request_ids"], actor=request.user)
        return Response(
            {
                "removed": len(result.removed),
                "reviews": result.reviews,
                "not_in_queue": result.not_in_queue,
                "items": queue.items.count(),
            }
        )


class QueueRequeueApi(APIView):
    @extend_schema(
        request=RequeueInput,
        responses=RequeueOutput,
        summary="Re-queue the items labelled under an earlier instructions version (fresh slots)",
    )
    def post(self, request, slug, queue_id):
        app = get_app_for(request.user, slug, "monitor")
        queue = get_object_or_404(app.queues, pk=queue_id)
        data = validated(RequeueInput, request)
        count = services.requeue_labelled_under(queue=queue, version=data["version"], actor=request.user)
        return Response({"requeued": count})


# --- filling a queue by rules


def _fill_output(selection: sampling.Selection, filled: sampling.Filled | None = None) -> dict:
    return {
        "preview": filled is None,
        "seed": selection.seed,
        "matching": selection.matching,
        "skipped_queued": selection.skipped_queued,
        "selected": selection.selected,
        "by_version": selection.by_version,
        "added": None if filled is None else filled.added,
        "items": None if filled is None else filled.items,
    }


class QueueFillApi(APIView):
    @extend_schema(
        operation_id="review_queue_fill",
        request=FillRulesInput,
        responses=FillOutput,
        summary="Fill a review queue by rules (or, with preview, count what they would add)",
        description="The rules combine (AND); a seeded random sample of what matches is added, at most "
        "`target`. A request still waiting for reviews in another open queue is left out unless "
        "`include_queued`.",
    )
    def post(self, request, slug, queue_id):
        app = get_app_for(request.user, slug, "monitor")
        queue = get_object_or_404(app.queues, pk=queue_id)
        serializer = FillRulesInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        rules = serializer.rules()
        if serializer.validated_data["preview"]:
            return Response(_fill_output(sampling.select(app, rules, queue=queue)))
        filled = sampling.fill_queue(queue=queue, rules=rules, actor=request.user)
        return Response(_fill_output(filled.selection, filled))


class QueueCreateFilledApi(APIView):
    @extend_schema(
        operation_id="review_queue_create_filled",
        request=QueueFillCreateInput,
        responses={
            200: inline_serializer(
                "QueueFillPreview", {"queue": serializers.JSONField(allow_null=True), "fill": FillOutput()}
            ),
            201: inline_serializer("QueueCreatedByRules", {"queue": QueueOutput(), "fill": FillOutput()}),
            409: OpenApiResponse(description="The app already has a queue of that name"),
        },
        summary="Create a review queue filled by rules (or, with preview, count what they would add)",
    )
    def post(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        serializer = QueueFillCreateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        rules = serializer.rules()
        if serializer.validated_data["preview"]:
            return Response({"queue": None, "fill": _fill_output(sampling.select(app, rules))})
        fields = {
            name: value
            for name, value in serializer.validated_data.items()
            if name not in FillRulesInput.RULES and name != "preview"
        }
        fields = _with_users(fields)
        queue, filled = sampling.create_filled_queue(app=app, created_by=request.user, rules=rules, **fields)
        return Response(
            {"queue": QueueOutput(queue).data, "fill": _fill_output(filled.selection, filled)},
            status=status.HTTP_201_CREATED,
        )
