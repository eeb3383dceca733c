from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from reviewapp.accounts.sso import email_is_identity

# Each app owns two lists in its urls.py: `urlpatterns` (HTML) and `api_urlpatterns` (under /api/v1/).
APPS = [
    "accounts",
    "catalog",
    "chat",
    "requestlog",
    "feedback",
    "monitoring",
    "queues",
    "adjudication",
    "jobs",
    "exports",
    "judges",
    "comparisons",
    "reliability",
    "front",
]

api_patterns = []
for name in APPS:
    module = __import__(f"reviewapp.{name}.urls", fromlist=["api_urlpatterns"])
    api_patterns += getattr(module, "api_urlpatterns", [])

urlpatterns = [
    path("admin/", admin.site.urls),
    # Before allauth's own: nobody changes their email here (see accounts.sso.email_is_identity).
    path("accounts/email/", email_is_identity),
    path("accounts/", include("allauth.urls")),
    path("scim/v2/", include("reviewapp.accounts.scim_urls", namespace="scim")),
    path("api/v1/", include(api_patterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        csp_override(settings.SWAGGER_UI_CSP)(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
]
for name in APPS:
    urlpatterns.append(path("", include(f"reviewapp.{name}.urls")))

# JSON under /api/, the usual pages elsewhere.
handler400 = "reviewapp.front.api_errors.bad_request"
handler403 = "reviewapp.front.api_errors.permission_denied"
handler404 = "reviewapp.front.api_errors.page_not_found"
# A database that cannot be reached is a 503 with Retry-After (JSON or a page), not a 500.
handler500 = "reviewapp.front.unavailable.server_error"

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
