"""/scim/v2/: django-scim2's routes (same names, namespace `scim`) with our views where they differ."""

from django.urls import re_path
from django_scim import urls as library_urls

from reviewapp.front.unavailable import guarded

from . import scim_views

app_name = "scim"

OURS = {
    "users-search": scim_views.UserSearchView,
    "users": scim_views.UsersView,
    "groups-search": scim_views.GroupSearchView,
    "groups": scim_views.GroupsView,
    "service-provider-config": scim_views.ServiceProviderConfigView,
    "resource-types": scim_views.ResourceTypesView,
    "schemas": scim_views.SchemasView,
}

urlpatterns = [
    # guarded: a database that cannot be reached is a 503, not django-scim2's catch-all 500.
    re_path(pattern.pattern.regex.pattern, guarded(OURS[pattern.name]).as_view(), name=pattern.name)
    if pattern.name in OURS
    else pattern
    for pattern in library_urls.urlpatterns
]
