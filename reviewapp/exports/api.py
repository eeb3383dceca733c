from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.catalog.permissions import get_app_for

from . import services
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


def _filters(data: dict) -> Filters:
    return Filters(
        **{**data["filters"], "reasons": tuple(data["filters"].get("reasons", ()))},
        request_ids=tuple(str(r) for r in data["request_ids"]),
    )


def _started(request, job) -> Response:
    body = {
        "job_id": job.id,
        "status": job.status,
        "status_url": request.build_absolute_uri(reverse("api-job-detail", args=[job.id])),
        "progress_url": request.build_absolute_uri(reverse("job-progress", args=[job.id])),
    }
    return Response(JobStartedOutput(body).data, status=status.HTTP_202_ACCEPTED)


class EvaluationSetListApi(APIView):
    throttle_scope = "exports"  # POST; see accounts.throttling

    @extend_schema(responses=EvaluationSetOutput(many=True), summary="The app's evaluation sets and versions")
    def get(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        sets = EvaluationSet.objects.filter(app=app).prefetch_related("versions")
        return Response(EvaluationSetOutput(sets, many=True).data)

    @extend_schema(
        request=EvaluationSetExportInput,
        responses={202: JobStartedOutput},
        summary="Export the next version of a named evaluation set (a background job; CAN_MANAGE)",
    )
    def post(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        data = EvaluationSetExportInput(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        job = services.start_evaluation_set_export(
            app=app,
            user=request.user,
            name=d["name"],
            filters=_filters(d),
            rule=d["rule"],
            include_outputs=d["include_outputs"],
        )
        return _started(request, job)


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


def _download(obj, filename):
    path = obj.file_path(filename)
    if path is None or not path.exists():
        raise Http404("No such file")
    # The type the schema documents, whatever the file's extension suggests.
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=filename, content_type="application/octet-stream"
    )


class VersionFileApi(APIView):
    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY}, summary="Download a file"
    )
    def get(self, request, slug, name, number, filename):
        app = get_app_for(request.user, slug, "monitor")
        version = get_object_or_404(
            EvaluationSetVersion, evaluation_set__app=app, evaluation_set__name=name, number=number
        )
        return _download(version, filename)


class JudgeExportListApi(APIView):
    throttle_scope = "exports"  # POST; see accounts.throttling

    @extend_schema(responses=JudgeExportOutput(many=True), summary="The app's judge few-shot exports")
    def get(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        exports = JudgeExport.objects.filter(app=app).select_related("app")[:100]
        return Response(JudgeExportOutput(exports, many=True, context={"request": request}).data)

    @extend_schema(
        request=JudgeExportInput,
        responses={202: JobStartedOutput},
        summary="Export judge few-shot examples (a background job; CAN_MANAGE)",
    )
    def post(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        data = JudgeExportInput(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        job = services.start_judge_export(
            app=app,
            user=request.user,
            filters=_filters(d),
            rule=d["rule"],
            judges=d["judges"],
            examples_per_judge=d["examples_per_judge"],
            holdout_set=d["holdout_set"],
            holdout_by=d["holdout_by"],
        )
        return _started(request, job)


class JudgeExportDetailApi(APIView):
    @extend_schema(responses=JudgeExportOutput, summary="One judge export: files, trace ids, MLflow status")
    def get(self, request, slug, pk):
        app = get_app_for(request.user, slug, "monitor")
        export = get_object_or_404(JudgeExport.objects.select_related("app"), app=app, pk=pk)
        return Response(JudgeExportOutput(export, context={"request": request}).data)


class JudgeExportFileApi(APIView):
    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY}, summary="Download a file"
    )
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
