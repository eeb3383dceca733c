from django.http import Http404
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.lib.serializers import validated

from .models import ApiToken
from .serializers import MeOutput, NewTokenOutput, TokenInput, TokenOutput


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents personal API tokens in the OpenAPI schema (registered by being defined)."""

    target_class = "reviewapp.accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (Settings → API tokens)",
        }


class MeApi(APIView):
    @extend_schema(responses=MeOutput, summary="Who the token or session belongs to")
    def get(self, request):
        return Response(MeOutput(request.user).data)


class TokenListApi(APIView):
    @extend_schema(responses=TokenOutput(many=True), summary="Your API tokens (never their values)")
    def get(self, request):
        return Response(TokenOutput(request.user.api_tokens.all(), many=True).data)

    @extend_schema(request=TokenInput, responses={201: NewTokenOutput}, summary="Create an API token")
    def post(self, request):
        data = validated(TokenInput, request)
        token, raw = ApiToken.issue(user=request.user, name=data["name"])
        token.token = raw
        return Response(NewTokenOutput(token).data, status=status.HTTP_201_CREATED)


class TokenDetailApi(APIView):
    @extend_schema(responses={204: None}, summary="Revoke one of your API tokens, at once")
    def delete(self, request, token_id: int):
        if not request.user.api_tokens.filter(pk=token_id).exists():
            raise Http404("No such token")
        request.user.api_tokens.filter(pk=token_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)
