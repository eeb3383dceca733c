"""django-scim2's views where RFC 7644 asks for other answers than the library gives.

- Discovery (RFC 7644 §4): list responses carry totalResults; unknown ids are a SCIM 404;
  a filter is refused with 403; ResourceType endpoints are relative to the base URL.
- Lists and searches (RFC 7644 §3.4.2, §3.4.3): counted and paged in the database rather than
  in Python, startIndex below 1 means 1, and POST .search reads its paging from the body.
"""

import json

from django.http import HttpResponse
from django_scim import constants, exceptions, views

from .scim import (
    bad,
    list_response,
    page,
    resource_type_documents,
    schema_documents,
)


def scim_json(doc: dict) -> HttpResponse:
    return HttpResponse(json.dumps(doc), content_type=constants.SCIM_CONTENT_TYPE)


def refuse_filter(request) -> None:
    if "filter" in request.GET:
        raise exceptions.SCIMException("discovery endpoints cannot be filtered; fetch them whole", status=403)


def discovery_answer(request, documents: list[dict], uuid: str | None) -> HttpResponse:
    refuse_filter(request)
    if uuid is None:
        return scim_json(list_response(documents, total=len(documents), start=1))
    for document in documents:
        if document["id"] == uuid:
            return scim_json(document)
    raise exceptions.NotFoundError(uuid)


class ServiceProviderConfigView(views.ServiceProviderConfigView):
    def get(self, request):
        refuse_filter(request)
        return super().get(request)


class ResourceTypesView(views.ResourceTypesView):
    def get(self, request, uuid=None, *args, **kwargs):
        return discovery_answer(request, resource_type_documents(request), uuid)


class SchemasView(views.SchemasView):
    def get(self, request, uuid=None, *args, **kwargs):
        return discovery_answer(request, schema_documents(request), uuid)


class ListMixin:
    def get_many(self, request):
        start, count = page(request.GET.get("startIndex"), request.GET.get("count"))
        return self.listing(request, request.GET.get("filter"), start, count)

    def listing(self, request, query: str | None, start: int, count: int) -> HttpResponse:
        parser = type(self).parser_getter()
        rows = parser.search(query, request) if query else parser.listed()
        total = rows.count()
        resources = [
            self.scim_adapter(row, request=request).to_dict() for row in rows[start - 1 : start - 1 + count]
        ]
        return scim_json(list_response(resources, total=total, start=start))


class SearchMixin(ListMixin):
    def post(self, request, *args, **kwargs):
        body = self.load_body(request.body)
        if constants.SchemaURI.SERACH_REQUEST not in (body.get("schemas") or []):
            raise bad(f"schemas must list {constants.SchemaURI.SERACH_REQUEST}", "invalidSyntax")
        query = body.get("filter")
        if query is not None and not isinstance(query, str):
            raise bad("filter must be a string", "invalidFilter")
        start, count = page(body.get("startIndex"), body.get("count"))
        return self.listing(request, query, start, count)


class UsersView(ListMixin, views.UsersView):
    pass


class GroupsView(ListMixin, views.GroupsView):
    pass


class UserSearchView(SearchMixin, views.UserSearchView):
    pass


class GroupSearchView(SearchMixin, views.GroupSearchView):
    pass
