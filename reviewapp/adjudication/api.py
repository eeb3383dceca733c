from django import forms
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.lib.serializers import validated

from . import disputes, services
from .access import get_queue_to_adjudicate
from .serializers import AdjudicationInput, CaseOutput, ListParams


class Pages(PageNumberPagination):
    """Numbered pages of the computed list; a page or page size the server cannot read is a 400."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        field = forms.IntegerField(required=False, min_value=1, max_value=self.max_page_size)
        try:
            return field.clean(request.query_params.get(self.page_size_query_param)) or self.page_size
        except forms.ValidationError as exc:
            raise serializers.ValidationError({self.page_size_query_param: exc.messages}) from None

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as exc:
            raise serializers.ValidationError({self.page_query_param: [str(exc.detail)]}) from None


class AdjudicationListApi(APIView):
    pagination_class = Pages

    @extend_schema(
        parameters=[ListParams],
        responses=CaseOutput(many=True),
        summary="The items of a queue its reviewers disagree on: open ones first, then settled ones",
        description=(
            "Managers of the app and the queue's adjudicators. Each item lists every reviewer's "
            "feedback; names are hidden (“Reviewer N”) when the queue is blind."
        ),
    )
    def get(self, request, slug, queue_id):
        queue = get_queue_to_adjudicate(request.user, slug, queue_id)
        params = ListParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        found = disputes.cases(queue)
        if "status" in params.validated_data:
            settled = params.validated_data["status"] == "settled"
            found = [c for c in found if c.settled == settled]
        pages = Pages()
        page = pages.paginate_queryset(found, request, view=self)
        return pages.get_paginated_response(CaseOutput(page, many=True).data)


class AdjudicationApi(APIView):
    def _case(self, queue, request_id) -> disputes.Case:
        case = disputes.case_for(queue, request_id)
        if case is None:
            raise NotFound("The reviewers of this queue do not disagree on that request.")
        return case

    @extend_schema(responses=CaseOutput, summary="One disputed item of a queue, with its adjudication")
    def get(self, request, slug, queue_id, request_id):
        queue = get_queue_to_adjudicate(request.user, slug, queue_id)
        return Response(CaseOutput(self._case(queue, request_id)).data)

    @extend_schema(
        request=AdjudicationInput,
        responses={200: CaseOutput, 400: OpenApiResponse(description="A field at fault, named")},
        summary="Set or replace the final label of a disputed item",
        description=(
            "Either `pick` (a reviewer's number: their thumbs, passage ratings and correction are "
            "taken as they are) or your own label (`rating`, required; `relevant`; "
            "`corrected_response`), with an optional `note`. The adjudicated label is what exports "
            "use first (rule `adjudicated`) and is written to the request's MLflow trace as the final "
            "expectations."
        ),
    )
    def put(self, request, slug, queue_id, request_id):
        queue = get_queue_to_adjudicate(request.user, slug, queue_id)
        case = self._case(queue, request_id)
        data = validated(AdjudicationInput, request)
        case.adjudication = services.adjudicate(queue=queue, case=case, adjudicator=request.user, **data)
        return Response(CaseOutput(case).data)
