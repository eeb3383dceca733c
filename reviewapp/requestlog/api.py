from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.catalog.permissions import get_app_for
from reviewapp.jobs.serializers import JobSerializer

from . import browse, services
from .forms import LogFilterForm
from .serializers import RequestLogPageOutput, RequestLogRowOutput, TracesImportInput, TracesImportOutput

LOG_PARAMETERS = [
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="Only rows at or after this time"),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Only rows before this time"),
    OpenApiParameter("source", OpenApiTypes.STR, enum=["review_app", "rest_api", "import"]),
    OpenApiParameter("version", {"type": "string", "maxLength": 100}, description="App version"),
    OpenApiParameter("feedback", OpenApiTypes.STR, enum=["yes", "no"], description="Has feedback or not"),
    OpenApiParameter(
        "rating",
        OpenApiTypes.STR,
        enum=["positive", "negative"],
        description="Some reviewer's effective rating",
    ),
    OpenApiParameter(
        "q", {"type": "string", "maxLength": 200}, description="Text in the request messages or the response"
    ),
    OpenApiParameter(
        "after", {"type": "string", "maxLength": 200}, description="Cursor: the page of rows older than it"
    ),
    OpenApiParameter(
        "before",
        {"type": "string", "maxLength": 200},
        description="Cursor: the page of rows newer than it (not with `after`)",
    ),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": browse.MAX_PAGE_SIZE},
        description="default 50",
    ),
]

for _parameter in LOG_PARAMETERS:  # read through LogFilterForm: `name=` means no filter
    _parameter.extensions = {"x-empty-is-absent": True}


class RequestLogApi(APIView):
    @extend_schema(
        parameters=LOG_PARAMETERS,
        responses=RequestLogPageOutput,
        summary="The app's request log, newest first, with cursor pagination (managers)",
    )
    def get(self, request, slug):
        app = get_app_for(request.user, slug, "monitor")
        form = LogFilterForm(request.query_params)
        if not form.is_valid():
            raise serializers.ValidationError(_plain(form.errors))
        qs = browse.filter_requests(app, form.filters()).select_related("user")
        page = browse.page_of(
            qs, after=form.cleaned_data["after"], before=form.cleaned_data["before"], size=form.size()
        )
        base = request.build_absolute_uri(reverse("api-request-logs", args=[app.slug]))
        keep = {
            **form.filter_query(),
            **({"page_size": form.size()} if form.cleaned_data["page_size"] else {}),
        }

        def link(name, cursor):
            return f"{base}?{urlencode({**keep, name: cursor})}" if cursor else None

        return Response(
            {
                "results": RequestLogRowOutput(page.rows, many=True).data,
                "next_cursor": page.next_cursor,
                "previous_cursor": page.previous_cursor,
                "next": link("after", page.next_cursor),
                "previous": link("before", page.previous_cursor),
            }
        )


def _plain(errors) -> dict:
    return {("detail" if field == "__all__" else field): list(messages) for field, messages in errors.items()}


class TracesImportApi(APIView):
    throttle_scope = "imports"  # POST; see accounts.throttling

    @extend_schema(
        request=TracesImportInput,
        responses={202: TracesImportOutput, 413: OpenApiTypes.OBJECT},
        summary="Import historical traces (rows or an MLflow experiment) as a background job",
        description="Always asynchronous: answers 202 with the job; its result holds the counts and a "
        "report of bad rows (row n of `rows` is reported as line n). The same request_id is stored once.",
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
