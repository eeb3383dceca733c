from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.catalog.permissions import get_app_for

from .access import visible_request
from .models import Assessment
from .serializers import AssessmentFilter, AssessmentOut, FeedbackIn
from .services import record


class FeedbackApi(APIView):
    throttle_scope = "feedback"  # POST; see accounts.throttling

    @extend_schema(
        request=FeedbackIn,
        responses={201: AssessmentOut, 200: AssessmentOut},
        summary="Give feedback on a request (the Feedback API)",
        description=(
            "Merges the given fields into your effective feedback on the request and stores it as a "
            "new assessment row (history is kept; your latest row is effective). 201 when a row was "
            "stored; 200 with the stored row when nothing new was stored: an `assessment_id` sent "
            "before (an idempotent retry) or a change that changes nothing. Needs CAN_QUERY and a "
            "request you can see (your own, or one in a review queue open to you; managers: any)."
        ),
    )
    def post(self, request, slug: str):
        app = get_app_for(request.user, slug, "feedback")
        incoming = FeedbackIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        changes = dict(incoming.validated_data)
        req = visible_request(request.user, app, changes.pop("request_id"))
        if req is None:
            raise serializers.ValidationError({"request_id": "No such request of this app that you can see."})
        assessment_id = changes.pop("assessment_id", None)
        for item in changes.get("retrieval_assessments", []):
            item.setdefault("comment", "")
        recorded = record(request=req, reviewer=request.user, changes=changes, assessment_id=assessment_id)
        if recorded.assessment is None:
            raise serializers.ValidationError({"detail": "Nothing to record: these values are the defaults."})
        return Response(AssessmentOut(recorded.assessment).data, status=201 if recorded.created else 200)


class NewestFirst(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class AssessmentListApi(APIView):
    pagination_class = NewestFirst

    @extend_schema(
        parameters=[AssessmentFilter, OpenApiParameter("cursor", OpenApiTypes.STR)],
        responses=AssessmentOut(many=True),
        summary="The assessment log of an app, newest first (managers)",
    )
    def get(self, request, slug: str):
        app = get_app_for(request.user, slug, "monitor")
        # A plain dict: DRF reads an absent boolean in a QueryDict as false.
        filters = AssessmentFilter(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        rows = (
            Assessment.objects.filter(app=app)
            .with_effective()
            .select_related("request", "app", "mlflow_sync")
        )
        rows = filter_rows(rows, filters.validated_data)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(AssessmentOut(page, many=True).data)


def filter_rows(rows, params: dict):
    if "since" in params:
        rows = rows.filter(created_at__gte=params["since"])
    if "until" in params:
        rows = rows.filter(created_at__lt=params["until"])
    if "source" in params:
        rows = rows.filter(request__source=params["source"])
    if "app_version" in params:
        rows = rows.filter(app_version=params["app_version"])
    if "rating" in params:
        rows = rows.filter(rating="" if params["rating"] == "none" else params["rating"])
    if "reviewer" in params:
        rows = rows.filter(reviewer__email__iexact=params["reviewer"])
    if "request_id" in params:
        rows = rows.filter(request_id=params["request_id"])
    if params.get("effective") is not None:
        rows = rows.filter(is_effective=params["effective"])
    return rows
