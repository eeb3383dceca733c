from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from reviewapp.lib.compiled import CompiledQuery

from .models import ApiToken, hash_token

LAST_USED_RESOLUTION = timedelta(seconds=60)


def _token_with_user(shape: tuple, *, token_hash: str):
    return ApiToken.objects.select_related("user").filter(token_hash=token_hash)[:1]


# Every API call starts here: compiled once per process (lib/compiled.py).
TOKEN_WITH_USER = CompiledQuery(ApiToken, _token_with_user)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` with a personal API token."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0] != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header; use 'Bearer <token>'")
        token = TOKEN_WITH_USER.first((), token_hash=hash_token(parts[1]))
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown API token")
        if token.revoked_at:
            raise exceptions.AuthenticationFailed("This API token has been revoked")
        if token.expires_at and token.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed("This API token has expired")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("This user is deactivated")
        now = timezone.now()
        # At most one write a minute per token: a write per call would serialise its callers.
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword
