from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.catalog.permissions import get_app_for
from reviewapp.exports.api import job_started
from reviewapp.exports.selection import Filters
from reviewapp.exports.serializers import JobStartedOutput
from reviewapp.exports.services import evaluation_set_selection

from . import services
from .agreement import agreement
from .models import Judge
from .serializers import (
    JudgeAgreementOutput,
    JudgeChangeInput,
    JudgeInput,
    JudgeOutput,
    JudgeRunInput,
    JudgeTuneInput,
)


def _judge(request, slug: str, name: str, action: str) -> Judge:
    app = get_app_for(request.user, slug, action)
    judge = Judge.objects.live().filter(app=app, name=name).first()
    if judge is None:
        raise Http404("No such judge")
    return judge


class JudgeListApi(APIView):
    throttle_scope = "exports"  # POST; see accounts.throttling

    @extend_schema(responses=JudgeOutput(many=True), summary="The app's judges (CAN_MANAGE)")
    def get(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        judges = Judge.objects.live().filter(app=app).prefetch_related("versions")
        return Response(JudgeOutput([JudgeOutput.of(j) for j in judges], many=True).data)

    @extend_schema(
        request=JudgeInput,
        responses={201: JudgeOutput, 409: OpenApiResponse(description="The judge name is taken")},
        summary="Define a judge (CAN_MANAGE)",
    )
    def post(self, request, slug):
        app = get_app_for(request.user, slug, "update")
        data = JudgeInput(data=request.data)
        data.is_valid(raise_exception=True)
        # A ValidationError becomes a 400 naming the field (front.api_errors).
        judge = services.create_judge(app=app, user=request.user, **data.validated_data)
        return Response(JudgeOutput(JudgeOutput.of(judge)).data, status=status.HTTP_201_CREATED)


class JudgeDetailApi(APIView):
    @extend_schema(responses=JudgeOutput, summary="One judge and its versions (CAN_MANAGE)")
    def get(self, request, slug, name):
        return Response(JudgeOutput(JudgeOutput.of(_judge(request, slug, name, "monitor"))).data)

    @extend_schema(
        request=JudgeChangeInput,
        responses=JudgeOutput,
        summary="Change a judge: its next version (the current one when nothing changes)",
    )
    def patch(self, request, slug, name):
        judge = _judge(request, slug, name, "update")
        data = JudgeChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.update_judge(judge=judge, user=request.user, **data.validated_data)
        return Response(JudgeOutput(JudgeOutput.of(judge)).data)

    @extend_schema(responses={204: None}, summary="Delete a judge (its results stay)")
    def delete(self, request, slug, name):
        services.delete_judge(judge=_judge(request, slug, name, "update"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class JudgeRunApi(APIView):
    throttle_scope = "exports"  # see accounts.throttling

    @extend_schema(
        request=JudgeRunInput,
        responses={202: JobStartedOutput},
        summary="Judge the selected reviewed requests (a background job; CAN_MANAGE)",
    )
    def post(self, request, slug, name):
        judge = _judge(request, slug, name, "monitor")
        data = JudgeRunInput(data=request.data)
        data.is_valid(raise_exception=True)
        checked = data.validated_data
        if checked["evaluation_set"]:
            filters = evaluation_set_selection(
                judge.app, checked["evaluation_set"], checked["evaluation_set_version"]
            )
        else:
            filters = Filters.from_input(checked["filters"], checked["request_ids"])
        job = services.start_run(judge=judge, user=request.user, filters=filters, version=checked["version"])
        return job_started(request, job)


class JudgeTuneApi(APIView):
    throttle_scope = "exports"  # see accounts.throttling

    @extend_schema(
        request=JudgeTuneInput,
        responses={202: JobStartedOutput},
        summary="Tune an LLM judge with the reviewers' examples: its next version, measured against the "
        "current one on held-out requests (a background job; CAN_MANAGE)",
    )
    def post(self, request, slug, name):
        judge = _judge(request, slug, name, "update")
        data = JudgeTuneInput(data=request.data)
        data.is_valid(raise_exception=True)
        return job_started(
            request, services.start_tuning(judge=judge, user=request.user, **data.validated_data)
        )


class JudgeAgreementApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("version", OpenApiTypes.INT, description="Default: the current version")
        ],
        responses=JudgeAgreementOutput,
        summary="How far a judge version agrees with the reviewers (CAN_MANAGE)",
    )
    def get(self, request, slug, name):
        judge = _judge(request, slug, name, "monitor")
        asked = request.query_params.get("version")
        if asked is None:
            version = judge.current
        else:
            number = int(asked) if asked.isascii() and asked.isdigit() and len(asked) < 10 else None
            version = judge.versions.filter(number=number).first() if number else None
            if version is None:
                return Response(
                    {"version": [f"{judge.name} has no version {asked[:20]!r}."]},
                    status=status.HTTP_400_BAD_REQUEST,
                )
        return Response(JudgeAgreementOutput(agreement(version)).data)
