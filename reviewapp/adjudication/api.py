from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from reviewapp.lib.serializers import validated

from . import disputes, services
from .access import get_queue_to_adjudicate
from .serializers import AdjudicationInput, CaseOutput, ListParams


def _page(request, rows: list, params: dict) -> dict:
    """One numbered page of a computed list; a page past the end is empty, not an error."""
    size, number = params["page_size"], params["page"]
    start = (number - 1) * size
    url = request.build_absolute_uri()
    return {
        "count": len(rows),
        "next": replace_query_param(url, "page", number + 1) if start + size < len(rows) else None,
        "previous": replace_query_param(url, "page", number - 1) if number > 1 else None,
        "results": rows[start : start + size],
    }


class AdjudicationListApi(APIView):
    @extend_schema(
        operation_id="v1_apps_review_queues_adjudications_list",
        parameters=[ListParams],
        responses=inline_serializer(
            "AdjudicationPage",
            {
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": CaseOutput(many=True),
            },
        ),
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
        page = _page(request, found, params.validated_data)
        return Response({**page, "results": CaseOutput(page["results"], many=True).data})


class AdjudicationApi(APIView):
    def _case(self, queue, request_id) -> disputes.Case:
        case = disputes.case_for(queue, request_id)
        if case is None:
            raise NotFound("The reviewers of this queue do not disagree on that request.")
        return case

    @extend_schema(
        operation_id="v1_apps_review_queues_adjudication_retrieve",
        responses=CaseOutput,
        summary="One disputed item of a queue, with its adjudication",
    )
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
