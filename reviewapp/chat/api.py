from django.core.exceptions import RequestDataTooBig
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.catalog.permissions import get_app_for
from reviewapp.chains.adapters import ChainTimeout
from reviewapp.chains.messages import MAX_MESSAGE_BYTES
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import Turn, run_turn

from .serializers import InvocationError, InvocationIn, InvocationOut
from .services import check_turn, result_body, turn_events

# One server-sent event.
SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["delta", "done", "incomplete", "error"]},
        "data": {"type": "string", "description": "The event's object as JSON text"},
    },
    "required": ["event", "data"],
}


def event_stream(events) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass tokens on as they come
    return response


def http_status(turn: Turn) -> int:
    if turn.error is None:
        # A partial answer is not a success: a client that reads only the status must not take it.
        return 502 if turn.request.status == Request.Status.INCOMPLETE else 200
    return 504 if isinstance(turn.error, ChainTimeout) else 502


class InvocationsApi(APIView):
    throttle_scope = "invocations"  # POST; see accounts.throttling

    @extend_schema(
        request=InvocationIn,
        responses={
            (200, "application/json"): OpenApiResponse(InvocationOut, description="The answer"),
            (200, "text/event-stream"): OpenApiResponse(
                SSE_EVENT,
                description="With `stream`: `delta` events {text}, then `done` with the answer object, "
                "`incomplete` with the partial answer object when the chain stopped part-way, or `error` "
                "with the error object.",
            ),
            400: OpenApiResponse(description="Bad input; the body names each field at fault"),
            502: OpenApiResponse(
                InvocationError,
                description="The chain failed (status error), or stopped part-way (status incomplete: the "
                "partial answer is in response); the turn is logged",
            ),
            504: OpenApiResponse(InvocationError, description="The chain timed out; the turn is logged"),
        },
        summary="Ask the app's chain (one turn), logged to the request log",
    )
    def post(self, request, slug):
        app = get_app_for(request.user, slug, "query")
        try:
            data = request.data
        except RequestDataTooBig:
            raise ValidationError(
                {"messages": [f"the request is too large; messages are limited to {MAX_MESSAGE_BYTES} bytes"]}
            ) from None
        form = InvocationIn(data=data)
        form.is_valid(raise_exception=True)
        turn = {
            "app": app,
            "user": request.user,
            "messages": form.validated_data["messages"],
            "conversation_id": form.validated_data.get("conversation_id"),
        }
        check_turn(**turn)
        turn["source"] = Request.Source.REST_API
        if form.validated_data["stream"]:
            return event_stream(turn_events(**turn))
        result = run_turn(**turn)
        return Response(result_body(result), status=http_status(result))
