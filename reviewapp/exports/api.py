from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.catalog.permissions import get_app_for

from . import downloads, services
from .models import CustomJudge, EvaluationSet, EvaluationSetVersion, JudgeExport
from .selection import Filters
from .serializers import (
    CustomJudgeSerializer,
    EvaluationSetExportInput,
    EvaluationSetOutput,
    JobStartedOutput,
    JudgeExportInput,
    JudgeExportOutput,
    VersionOutput,
)


def job_started(request, job) -> Response:
    """202 with the job and where to follow it (JobStartedOutput)."""
    body = {
        "job_id": job.id,
        "status": job.status,
        "status_url": request.build_absolute_uri(reverse("api-job-detail", args=[job.id])),
        "progress_url": request.build_absolute_uri(reverse("job-progress", args=[job.id])),
    }
    return Response(JobStartedOutput(body).data, status=status.HTTP_202_ACCEPTED)


class _StartExportApi(APIView):
    """GET lists the app's exports; POST starts one as a job (202 with where to follow it)."""

    throttle_scope = "exports"  # POST; see accounts.throttling
    input_serializer: type
    output_serializer: type
    start: staticmethod

    def __init_subclass__(cls, *, listing: str, starting: str, **kwargs):
        super().__init_subclass__(**kwargs)
        extend_schema_view(
            get=extend_schema(responses=cls.output_serializer(many=True), summary=listing),
            post=extend_schema(
                request=cls.input_serializer,
                responses={202: JobStartedOutput},
                summary=f"{starting} (a background job; CAN_MANAGE)",
            ),
        )(cls)

    def post(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        data = self.input_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        arguments = dict(data.validated_data)
        arguments["filters"] = Filters.from_input(arguments.pop("filters"), arguments.pop("request_ids"))
        return job_started(request, self.start(app=app, user=request.user, **arguments))


class EvaluationSetListApi(
    _StartExportApi,
    listing="The app's evaluation sets and versions",
    starting="Export the next version of a named evaluation set",
):
    input_serializer, output_serializer = EvaluationSetExportInput, EvaluationSetOutput
    start = staticmethod(services.start_evaluation_set_export)

    def get(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        sets = EvaluationSet.objects.filter(app=app).prefetch_related("versions")
        return Response(EvaluationSetOutput(sets, many=True).data)


class VersionDetailApi(APIView):
    @extend_schema(responses=VersionOutput, summary="One version: manifest, files, MLflow status")
    def get(self, request, slug, name, number):
        app = get_app_for(request.user, slug, "monitor")
        version = get_object_or_404(
            EvaluationSetVersion.objects.select_related("evaluation_set__app", "job", "created_by"),
            evaluation_set__app=app,
            evaluation_set__name=name,
            number=number,
        )
        return Response(VersionOutput(version, context={"request": request}).data)


DOWNLOAD_RESPONSES = {
    (200, "application/octet-stream"): OpenApiTypes.BINARY,
    503: OpenApiResponse(description="The file store cannot be reached right now (with Retry-After)"),
}


def _download(obj, filename):
    try:
        # The type the schema documents, whatever the file's extension suggests.
        return downloads.file_response(obj, filename, content_type="application/octet-stream")
    except downloads.StoreUnavailable as exc:
        headers = {"Retry-After": str(downloads.RETRY_AFTER_SECONDS)}
        return Response({"detail": str(exc), "code": "storage_unavailable"}, status=503, headers=headers)


class VersionFileApi(APIView):
    @extend_schema(responses=DOWNLOAD_RESPONSES, summary="Download a file")
    def get(self, request, slug, name, number, filename):
        app = get_app_for(request.user, slug, "monitor")
        version = get_object_or_404(
            EvaluationSetVersion, evaluation_set__app=app, evaluation_set__name=name, number=number
        )
        return _download(version, filename)


class JudgeExportListApi(
    _StartExportApi, listing="The app's judge few-shot exports", starting="Export judge few-shot examples"
):
    input_serializer, output_serializer = JudgeExportInput, JudgeExportOutput
    start = staticmethod(services.start_judge_export)

    def get(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        exports = JudgeExport.objects.filter(app=app).select_related("app")[:100]
        return Response(JudgeExportOutput(exports, many=True, context={"request": request}).data)


class JudgeExportDetailApi(APIView):
    @extend_schema(responses=JudgeExportOutput, summary="One judge export: files, trace ids, MLflow status")
    def get(self, request, slug, pk):
        app = get_app_for(request.user, slug, "monitor")
        export = get_object_or_404(JudgeExport.objects.select_related("app"), app=app, pk=pk)
        return Response(JudgeExportOutput(export, context={"request": request}).data)


class JudgeExportFileApi(APIView):
    @extend_schema(responses=DOWNLOAD_RESPONSES, summary="Download a file")
    def get(self, request, slug, pk, filename):
        app = get_app_for(request.user, slug, "monitor")
        return _download(get_object_or_404(JudgeExport, app=app, pk=pk), filename)


class CustomJudgeListApi(APIView):
    throttle_scope = "exports"  # POST; see accounts.throttling

    @extend_schema(responses=CustomJudgeSerializer(many=True), summary="The app's custom judges")
    def get(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        return Response(CustomJudgeSerializer(CustomJudge.objects.filter(app=app), many=True).data)

    @extend_schema(
        request=CustomJudgeSerializer,
        responses={201: CustomJudgeSerializer, 409: OpenApiResponse(description="The judge name is taken")},
        summary="Define a custom judge",
    )
    def post(self, request, slug):
        app = get_app_for(request.user, slug, "update")
        data = CustomJudgeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # A ValidationError becomes a 400 naming the field (front.api_errors).
        judge = services.create_custom_judge(app=app, user=request.user, **data.validated_data)
        return Response(CustomJudgeSerializer(judge).data, status=status.HTTP_201_CREATED)
