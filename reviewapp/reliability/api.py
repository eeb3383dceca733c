import uuid

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.catalog.permissions import get_app_for
from reviewapp.lib.serializers import validated

from . import services
from .models import GoldItem
from .serializers import GoldInput, GoldItemOutput, QueueReliabilityOutput


class QueueReviewersApi(APIView):
    @extend_schema(
        responses=QueueReliabilityOutput,
        summary="Each reviewer of a queue: progress, gold accuracy, agreement with the consensus, Dawid–Skene",
    )
    def get(self, request, slug, queue_id):
        app = get_app_for(request.user, slug, "monitor")
        queue = get_object_or_404(app.queues, pk=queue_id)
        return Response(QueueReliabilityOutput(services.queue_reliability(queue=queue)).data)


class GoldListApi(APIView):
    @extend_schema(responses=GoldItemOutput(many=True), summary="The app's gold items with their answer keys")
    def get(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        gold = GoldItem.objects.for_app(app).select_related("marked_by")
        return Response(GoldItemOutput(gold, many=True).data)

    @extend_schema(
        request=GoldInput,
        responses={
            200: GoldItemOutput(many=True),
            400: OpenApiResponse(description="A request cannot be gold"),
        },
        summary="Mark reviewed requests as gold, snapshotting their answer keys (all or none)",
    )
    def post(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        data = validated(GoldInput, request)
        marked = services.mark_gold(app=app, request_ids=data["request_ids"], by=request.user)
        return Response(GoldItemOutput(marked, many=True).data, status=status.HTTP_200_OK)


class GoldDetailApi(APIView):
    @extend_schema(responses={204: None}, summary="Take a request out of the gold set")
    def delete(self, request, slug, request_id):
        app = get_app_for(request.user, slug, "monitor")
        try:
            request_id = uuid.UUID(request_id)
        except ValueError:
            raise Http404("No such gold item") from None
        gold = get_object_or_404(GoldItem.objects.for_app(app), request_id=request_id)
        services.unmark_gold(app=app, request_ids=[str(gold.request_id)])
        return Response(status=status.HTTP_204_NO_CONTENT)
