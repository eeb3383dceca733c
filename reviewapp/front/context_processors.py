from django.conf import settings


def site(request):
    return {"oidc_enabled": settings.OIDC_ENABLED, "oidc_name": settings.OIDC_NAME}
