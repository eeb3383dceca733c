"""URL patterns for the OIDC provider; allauth includes them under /accounts/oidc/<provider_id>/.

Same names as allauth's own openid_connect URLs, so `{% provider_login_url %}` keeps working.
"""

from django.urls import include, path, re_path

from . import oidc_callback, oidc_login

urlpatterns = [
    re_path(
        r"^oidc/(?P<provider_id>[^/]+)/",
        include(
            [
                path("login/", oidc_login, name="openid_connect_login"),
                path("login/callback/", oidc_callback, name="openid_connect_callback"),
            ]
        ),
    )
]
