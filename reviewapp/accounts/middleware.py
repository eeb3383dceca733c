import hmac
import json
import re
from http import HTTPStatus

from django.conf import settings
from django.http import HttpResponse

SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_CONTENT_TYPE = "application/scim+json"
RESOURCE = re.compile(r"^(?:Users|Groups)(?:/(?P<id>[^/]+))?$")


def scim_error(status: int, detail: str, scim_type: str | None = None) -> HttpResponse:
    body = {"schemas": [SCIM_ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    response = HttpResponse(json.dumps(body), status=status, content_type=SCIM_CONTENT_TYPE)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="SCIM"'
    return response


class SCIMAuthCheckMiddleware:
    """Guards /scim/v2/ with the bearer token from SCIM_TOKEN; SCIM is off when it is unset.

    It also answers what django-scim2 would not answer in RFC 7644's error schema: a body that
    is not a JSON object (its views would fail on it), and its bare 404/405/501 responses.
    """

    prefix = "/scim/v2/"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(self.prefix):
            return self.get_response(request)
        if not settings.SCIM_TOKEN:
            return scim_error(404, "SCIM provisioning is not enabled on this server")
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), settings.SCIM_TOKEN.encode()
        ):
            return scim_error(401, "A valid SCIM bearer token is required")
        request.scim_authenticated = True
        resource = RESOURCE.match(request.path[len(self.prefix) :])
        if resource:
            allowed = self.allowed_methods(resource["id"])
            if request.method not in allowed:
                response = scim_error(405, f"{request.method} is not allowed on {request.path}")
                response["Allow"] = ", ".join(sorted(allowed))
                return response
            if request.method in {"POST", "PUT", "PATCH"}:
                problem = self.body_problem(request)
                if problem:
                    return scim_error(400, problem, "invalidSyntax")
        response = self.get_response(request)
        if response.status_code < 400:
            return response
        is_scim_body = response.get("Content-Type", "").startswith(SCIM_CONTENT_TYPE) and response.content
        if not is_scim_body:
            error = scim_error(response.status_code, HTTPStatus(response.status_code).phrase)
            if response.has_header("Allow"):
                error["Allow"] = response["Allow"]
            return error
        return self.status_as_string(response)

    @staticmethod
    def allowed_methods(resource_id: str | None) -> set[str]:
        """POST goes to a collection (or .search); PUT, PATCH and DELETE to one resource."""
        if resource_id == ".search":
            return {"POST"}
        if resource_id:
            return {"GET", "HEAD", "PUT", "PATCH", "DELETE"}
        return {"GET", "HEAD", "POST"}

    @staticmethod
    def status_as_string(response):
        """RFC 7644 §3.12 has `status` as a string; django-scim2's errors send a number."""
        try:
            body = json.loads(response.content)
        except ValueError:
            return response
        if isinstance(body, dict) and isinstance(body.get("status"), int):
            body["status"] = str(body["status"])
            response.content = json.dumps(body)
        return response

    @staticmethod
    def body_problem(request) -> str:
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return "The body is not valid JSON"
        if not isinstance(body, dict):
            return "The body must be a JSON object"
        if request.method == "PATCH" and not isinstance(body.get("Operations"), list):
            return "A PATCH body needs an Operations list (RFC 7644 §3.5.2)"
        return ""
