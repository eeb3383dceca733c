from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from reviewapp.catalog.permissions import get_app_for
from reviewapp.front.api_schema import EMPTY_IS_ABSENT
from reviewapp.jobs.serializers import JobSerializer
from reviewapp.lib.filters import FilterBackend, errors_by_parameter

from . import browse, services
from .models import Request
from .serializers import RequestLogRowOutput, TracesImportInput, TracesImportOutput


class LogPagination(BasePagination):
    """The request log's keyset pages (browse.PageForm), with links to the pages either side."""

    def paginate_queryset(self, queryset, request, view=None):
        form = browse.PageForm(request.query_params)
        if not form.is_valid():
            raise serializers.ValidationError(errors_by_parameter(form.errors))
        self.request = request
        self.page = form.page_of(queryset)
        return self.page.rows

    def _link(self, name: str, cursor: str | None) -> str | None:
        if not cursor:
            return None
        url = remove_query_param(remove_query_param(self.request.build_absolute_uri(), "after"), "before")
        return replace_query_param(url, name, cursor)

    def get_paginated_response(self, data):
        return Response(
            {
                "results": data,
                "next_cursor": self.page.next_cursor,
                "previous_cursor": self.page.previous_cursor,
                "next": self._link("after", self.page.next_cursor),
                "previous": self._link("before", self.page.previous_cursor),
            }
        )

    def get_paginated_response_schema(self, schema):
        def text(description):
            return {"type": "string", "nullable": True, "description": description}

        return {
            "type": "object",
            "required": ["results", "next_cursor", "previous_cursor", "next", "previous"],
            "properties": {
                "results": schema,
                "next_cursor": text("Pass as `after` for older rows"),
                "previous_cursor": text("Pass as `before` for newer rows"),
                "next": text("URL of the next (older) page"),
                "previous": text("URL of the previous (newer) page"),
            },
        }

    def get_schema_operation_parameters(self, view):
        parameters = []
        for name, field in browse.PageForm.base_fields.items():
            if isinstance(field, browse.CursorField):
                schema = {"type": "string", "maxLength": field.max_length}
            else:
                schema = {"type": "integer", "minimum": field.min_value, "maximum": field.max_value}
            parameters.append(
                {
                    "name": name,
                    "required": False,
                    "in": "query",
                    "description": field.help_text,
                    "schema": schema,
                    "allowEmptyValue": True,
                }
            )
        return parameters


@extend_schema(
    summary="The app's request log, newest first, with cursor pagination (managers)",
    description="Every filter given must hold (they combine with AND); an empty value is no filter, a "
    "bad one a 400 naming it. The filters by feedback read each request's effective feedback (every "
    "reviewer's latest assessment), the same figures the dashboard counts, so each of its numbers links "
    "here with exactly the rows it counts.",
    parameters=[
        OpenApiParameter(
            "version",
            {"type": "string", "maxLength": 100},
            description="Deprecated: the old name of `app_version`",
            deprecated=True,
            extensions=EMPTY_IS_ABSENT,
        )
    ],
)
class RequestLogApi(ListAPIView):
    queryset = Request.objects.none()  # the model, for the schema; get_queryset scopes it to the app
    serializer_class = RequestLogRowOutput
    filter_backends = [FilterBackend]
    filterset_class = browse.RequestLogFilter
    pagination_class = LogPagination

    def get_queryset(self):
        app = get_app_for(self.request.user, self.kwargs["slug"], "monitor")
        return Request.objects.for_app(app).prefetch_related("user")


class TracesImportApi(APIView):
    throttle_scope = "imports"  # POST; see accounts.throttling

    @extend_schema(
        request=TracesImportInput,
        responses={202: TracesImportOutput, 413: OpenApiTypes.OBJECT},
        summary="Import historical traces (rows or an MLflow experiment) as a background job",
        description="Always asynchronous: answers 202 with the job; its result holds the counts and a "
        "report of bad rows (row n of `rows` is reported as line n). The same request_id is stored once. "
        "From MLflow, traces tagged as another app's turns are left out and counted in `other_apps`.",
    )
    def post(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        try:
            payload = request.data
        except RequestDataTooBig:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return Response(
                {
                    "detail": f"the body is over {limit} bytes: send the rows in several calls, or upload a JSONL file"
                },
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        data = TracesImportInput(data=payload)
        data.is_valid(raise_exception=True)
        if "rows" in data.validated_data:
            job = services.start_rows_import(app=app, user=request.user, rows=data.validated_data["rows"])
        else:
            job = services.start_mlflow_import(app=app, user=request.user, **data.validated_data["mlflow"])
        return Response(
            {
                "job_id": job.id,
                "status_url": request.build_absolute_uri(reverse("api-job-detail", args=[job.id])),
                "job": JobSerializer(job).data,
            },
            status=status.HTTP_202_ACCEPTED,
        )
