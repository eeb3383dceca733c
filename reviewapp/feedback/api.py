from django import forms
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.catalog.permissions import get_app_for
from reviewapp.lib.filters import FilterBackend

from .access import visible_request
from .filters import AssessmentFilter
from .items import review_item
from .models import Assessment
from .output import assessment_out, review_item_out
from .serializers import AssessmentOut, FeedbackIn, ReviewItemOut
from .services import record_feedback


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
        assessment_id = changes.pop("assessment_id", None)
        req = visible_request(
            request.user, app, changes.pop("request_id"), to_record=True, assessment_id=assessment_id
        )
        if req is None:
            raise serializers.ValidationError({"request_id": "No such request of this app that you can see."})
        for item in changes.get("retrieval_assessments", []):
            item.setdefault("comment", "")
        recorded = record_feedback(
            request=req, reviewer=request.user, changes=changes, assessment_id=assessment_id
        )
        if recorded.assessment is None:
            raise serializers.ValidationError({"detail": "Nothing to record: these values are the defaults."})
        return Response(assessment_out(recorded.assessment), status=201 if recorded.created else 200)


class ReviewItemApi(APIView):
    @extend_schema(
        responses=ReviewItemOut,
        summary="One request to review: the turn, its passages, a trace summary and your feedback",
        description=(
            "The request with its messages, passages (numbered as the answer cites them), a summary "
            "of its trace and your effective feedback on it. Visible as for the Feedback API: needs "
            "CAN_QUERY and a request you can see (your own, or one in a review queue open to you; "
            "managers: any); any other id is a 404."
        ),
    )
    def get(self, request, slug: str, request_id: str):
        app = get_app_for(request.user, slug, "feedback")
        req = visible_request(request.user, app, request_id, as_item=True)
        if req is None:
            raise NotFound("No such request of this app that you can see.")
        return Response(review_item_out(review_item(req, reader=request.user, app=app)))


class NewestFirst(CursorPagination):
    """Newest first; a page size or a cursor the server cannot read is a 400 naming it."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        field = forms.IntegerField(required=False, min_value=1, max_value=self.max_page_size)
        try:
            return field.clean(request.query_params.get(self.page_size_query_param)) or self.page_size
        except forms.ValidationError as exc:
            raise serializers.ValidationError({self.page_size_query_param: exc.messages}) from None

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise serializers.ValidationError(
                {self.cursor_query_param: ["not a valid page cursor"]}
            ) from None

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
                parameter["description"] = f"default {self.page_size}"
            parameter["allowEmptyValue"] = True
        return parameters


@extend_schema(summary="The assessment log of an app, newest first (managers)")
class AssessmentListApi(ListAPIView):
    queryset = Assessment.objects.none()  # the model, for the schema; get_queryset scopes it to the app
    serializer_class = AssessmentOut
    filter_backends = [FilterBackend]
    filterset_class = AssessmentFilter
    pagination_class = NewestFirst

    def get_queryset(self):
        app = get_app_for(self.request.user, self.kwargs["slug"], "monitor")
        return (
            Assessment.objects.filter(app=app)
            .with_is_effective()
            .select_related("request", "app", "mlflow_sync")
        )
