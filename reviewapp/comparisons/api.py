from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.catalog.permissions import get_app_for
from reviewapp.exports.serializers import JobStartedOutput
from reviewapp.lib.serializers import validated
from reviewapp.queues.models import ReviewQueue
from reviewapp.queues.serializers import QueueOutput

from . import mlflow_export, results, services
from .serializers import ComparisonOutput, PairwiseCreatedOutput, PairwiseCreateInput


def create_schemas(plain_input, plain_output) -> tuple:
    """The queue create endpoint's body and answer: a plain queue's, or a pairwise one's."""
    body = PolymorphicProxySerializer(
        component_name="QueueCreateAnyInput",
        serializers=[plain_input, PairwiseCreateInput],
        resource_type_field_name=None,
    )
    answer = PolymorphicProxySerializer(
        component_name="QueueCreatedAny",
        serializers=[plain_output, PairwiseCreatedOutput],
        resource_type_field_name=None,
    )
    return body, answer


def create_pairwise(request, app) -> Response:
    """`POST .../review-queues` with "mode": "pairwise" (queues.api hands it over)."""
    from reviewapp.queues.api import _users_by_email

    data = dict(validated(PairwiseCreateInput, request))
    data.pop("mode")
    data["reviewers"] = _users_by_email(data["reviewers"])
    queue, comparison = services.create_pairwise_queue(app=app, created_by=request.user, **data)
    body = {
        "queue": QueueOutput(queue).data,
        "comparison": ComparisonOutput(results.comparison_result(comparison)).data,
        "job_id": str(comparison.job_id) if comparison.job_id else None,
    }
    return Response(body, status=status.HTTP_201_CREATED)


def _pairwise_queue(request, slug: str, queue_id: int) -> ReviewQueue:
    app = get_app_for(request.user, slug, "monitor")
    return get_object_or_404(
        app.queues.select_related("comparison", "app"), pk=queue_id, mode=ReviewQueue.Mode.PAIRWISE
    )


class ComparisonApi(APIView):
    @extend_schema(
        responses=ComparisonOutput,
        summary="A pairwise queue's results: win rate per version with its 95% Wilson interval (ties apart)",
    )
    def get(self, request, slug, queue_id):
        queue = _pairwise_queue(request, slug, queue_id)
        return Response(ComparisonOutput(results.comparison_result(queue.comparison)).data)


class PreferencesApi(APIView):
    @extend_schema(
        responses={
            (200, "application/jsonl"): OpenApiResponse(
                description='One {"prompt", "chosen", "rejected"} a line (TRL conversational form); '
                "pairs decided by the reviewers' majority, ties left out"
            )
        },
        summary="A pairwise queue's preference pairs, as JSONL for DPO training",
    )
    def get(self, request, slug, queue_id):
        queue = _pairwise_queue(request, slug, queue_id)
        response = StreamingHttpResponse(
            results.preference_lines(queue.comparison), content_type="application/jsonl; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="preferences-{queue.pk}.jsonl"'
        return response


class PreferencesMlflowApi(APIView):
    @extend_schema(
        request=None,
        responses={202: JobStartedOutput},
        summary="Log a pairwise queue's preference pairs to the app's MLflow experiment (a background job)",
    )
    def post(self, request, slug, queue_id):
        queue = _pairwise_queue(request, slug, queue_id)
        job = mlflow_export.start(queue=queue, user=request.user)
        body = {
            "job_id": job.id,
            "status": job.status,
            "status_url": request.build_absolute_uri(reverse("api-job-detail", args=[job.id])),
            "progress_url": request.build_absolute_uri(reverse("job-progress", args=[job.id])),
        }
        return Response(JobStartedOutput(body).data, status=status.HTTP_202_ACCEPTED)
