import hmac
import json

from django.conf import settings
from django.http import HttpResponse

SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def scim_error(status: int, detail: str) -> HttpResponse:
    body = {"schemas": [SCIM_ERROR], "status": str(status), "detail": detail}
    return HttpResponse(json.dumps(body), status=status, content_type="application/scim+json")


class SCIMAuthCheckMiddleware:
    """Guards /scim/v2/ with the bearer token from SCIM_TOKEN; SCIM is off when it is unset."""

    prefix = "/scim/v2/"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(self.prefix):
            if not settings.SCIM_TOKEN:
                return scim_error(404, "SCIM provisioning is not enabled on this server")
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), settings.SCIM_TOKEN):
                return scim_error(401, "A valid SCIM bearer token is required")
            request.scim_authenticated = True
        return self.get_response(request)
