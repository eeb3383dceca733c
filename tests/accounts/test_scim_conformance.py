"""What SCIM clients discover and list, checked against RFC 7643/7644.

The first tests run a standard SCIM client (scim2-client) and conformance checker (scim2-tester)
over real HTTP against a live server; the rest check, through Django's client, what those two
do not look at.
"""

import json
import subprocess
import sys

import pytest
from httpx2 import Client as HttpClient
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import Error, ListResponse, SearchRequest
from scim2_tester import Status, check_server

from reviewapp.accounts.models import User
from reviewapp.accounts.scim import MAX_RESULTS
from tests import processes
from tests.accounts.test_scim import (
    ERROR_SCHEMA,
    GROUP_SCHEMA,
    TOKEN,
    USER_SCHEMA,
    Scim,
    assert_error,
    new_user,
)

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
# What scim2-tester counts as meeting the RFCs: MUST, SHOULD, or a MAY taken.
CONFORMING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}

pytestmark = pytest.mark.django_db


@pytest.fixture
def scim(settings):
    settings.SCIM_TOKEN = TOKEN
    return Scim()


@pytest.fixture
def scim_client(live_server, settings):
    """scim2-client over HTTP to the live server, as an identity provider would connect."""
    settings.SCIM_TOKEN = TOKEN
    http = HttpClient(base_url=f"{live_server.url}/scim/v2", headers={"Authorization": f"Bearer {TOKEN}"})
    with http:
        yield SyncSCIMClient(http)


# --- a standard client and checker against the live server ---


@pytest.mark.django_db(transaction=True)
def test_scim2_tester_finds_the_discovery_endpoints_conform(scim_client):
    """scim2-tester's discovery and misc checks: RFC 7644 §4, §3.4.2 and §3.12 as it reads them."""
    results = check_server(scim_client, include_tags={"discovery", "misc"})
    ran = {result.title for result in results}
    assert {"query_all_resource_types", "query_all_schemas", "access_schema_by_id", "random_url"} <= ran
    failed = [
        f"{result.title}: {result.status.name} {result.reason}"
        for result in results
        if result.status not in CONFORMING
        and not (result.status == Status.SKIPPED and result.reason == "Skipped due to tag filtering")
    ]
    assert failed == []


@pytest.mark.django_db(transaction=True)
def test_scim2_client_discovers_then_creates_lists_and_searches(scim_client, live_server):
    """scim2-client validates every answer against the schemas the server published."""
    scim_client.discover()
    config = scim_client.provider.config
    assert (config.patch.supported, config.filter.supported, config.filter.max_results) == (
        True,
        True,
        MAX_RESULTS,
    )
    user_model = scim_client.get_resource_model("User")
    group_model = scim_client.get_resource_model("Group")

    user = scim_client.create(
        user_model.model_validate(
            {
                "userName": "ada@example.com",
                "name": {"formatted": "Ada Lovelace"},
                "emails": [{"value": "ada@example.com", "primary": True}],
            }
        )
    )
    assert user.meta.location == f"{live_server.url}/scim/v2/Users/{user.id}"
    assert user.meta.resource_type == "User" and user.meta.created is not None

    listed = scim_client.query(user_model, query_parameters={"filter": 'userName eq "ADA@example.com"'})
    assert isinstance(listed, ListResponse)
    assert (listed.total_results, [u.user_name for u in listed.resources]) == (1, ["ada@example.com"])
    found = scim_client.search(user_model, SearchRequest(filter='userName sw "ada"', count=1))
    assert found.total_results == 1 and found.resources[0].id == user.id

    group = scim_client.create(
        group_model.model_validate({"displayName": "reviewers", "members": [{"value": user.id}]})
    )
    assert group.meta.location == f"{live_server.url}/scim/v2/Groups/{group.id}"
    assert [m.value for m in group.members] == [user.id]

    missing = scim_client.query(user_model, "999999", raise_scim_errors=False)
    assert isinstance(missing, Error) and missing.status == 404


# --- RFC 7644 §4: discovery ---


def test_discovery_lists_are_list_responses_with_total_results_rfc7644_section_4(scim):
    for endpoint in ("ResourceTypes", "Schemas"):
        status, doc = scim.get(endpoint)
        assert status == 200
        assert doc["schemas"] == [LIST_RESPONSE]
        assert doc["totalResults"] == len(doc["Resources"]) == 2
        assert (doc["startIndex"], doc["itemsPerPage"]) == (1, 2)


def test_resource_types_name_endpoints_relative_to_the_base_url_rfc7643_section_6(scim):
    _, doc = scim.get("ResourceTypes")
    by_id = {t["id"]: t for t in doc["Resources"]}
    assert {i: (t["endpoint"], t["schema"]) for i, t in by_id.items()} == {
        "User": ("/Users", USER_SCHEMA),
        "Group": ("/Groups", GROUP_SCHEMA),
    }
    for type_id, resource_type in by_id.items():
        assert resource_type["schemas"] == [RESOURCE_TYPE_SCHEMA]
        assert resource_type["meta"] == {
            "resourceType": "ResourceType",
            "location": f"http://testserver/scim/v2/ResourceTypes/{type_id}",
        }
        assert scim.get(f"ResourceTypes/{type_id}") == (200, resource_type)


def test_schemas_describe_exactly_the_attributes_users_and_groups_carry_rfc7643_section_7(scim):
    user = new_user(scim, name={"givenName": "Ada", "familyName": "Lovelace"})
    status, group = scim.post(
        "Groups", {"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"value": user["id"]}]}
    )
    assert status == 201
    user = scim.get(f"Users/{user['id']}")[1]
    common = {"schemas", "id", "externalId", "meta"}

    for resource, schema_id in ((user, USER_SCHEMA), (group, GROUP_SCHEMA)):
        status, schema = scim.get(f"Schemas/{schema_id}")
        assert status == 200 and schema["schemas"] == [SCHEMA_SCHEMA]
        assert schema["meta"]["location"] == f"http://testserver/scim/v2/Schemas/{schema_id}"
        described = {a["name"]: {s["name"] for s in a.get("subAttributes", [])} for a in schema["attributes"]}
        assert set(described) == set(resource) - common
        for name, subs in described.items():
            value = resource[name]
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict):
                    assert set(item) <= subs, (name, item)


@pytest.mark.parametrize("path", ["ServiceProviderConfig", "ResourceTypes", "Schemas"])
def test_a_filter_on_a_discovery_endpoint_is_refused_with_403_rfc7644_section_4(scim, path):
    assert_error(*scim.get(path, filter='id eq "User"'), 403)


def test_unknown_resource_types_and_schemas_are_scim_404s_rfc7644_section_3_12(scim):
    assert_error(*scim.get("ResourceTypes/Printer"), 404)
    assert_error(*scim.get("Schemas/urn:ietf:params:scim:schemas:core:2.0:Printer"), 404)
    # Offered by django-scim2 but not served: nothing here stores its attributes.
    assert_error(*scim.get("Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"), 404)


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_discovery_endpoints_answer_405_with_allow_to_anything_but_get(scim, method):
    for path in ("ServiceProviderConfig", "ResourceTypes", "Schemas"):
        response = getattr(scim.client, method)(
            f"/scim/v2/{path}", data="{}", content_type="application/scim+json", headers=scim.headers
        )
        assert_error(response.status_code, json.loads(response.content), 405)
        assert "GET" in response["Allow"]


def test_service_provider_config_advertises_what_is_implemented_rfc7643_section_5(scim):
    status, config = scim.get("ServiceProviderConfig")
    assert status == 200
    assert config["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    assert config["meta"] == {
        "resourceType": "ServiceProviderConfig",
        "location": "http://testserver/scim/v2/ServiceProviderConfig",
    }
    assert "documentationUri" not in config  # never null: left out when there is none
    assert config["authenticationSchemes"] == [
        {
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Bearer token from the SCIM_TOKEN environment variable",
            "primary": True,
        }
    ]
    # bulk: unsupported, and /Bulk says so.
    assert config["bulk"]["supported"] is False
    assert_error(*scim.post("Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"]}), 501)
    # changePassword: unsupported, and a password is refused.
    assert config["changePassword"] == {"supported": False}
    assert_error(
        *scim.post("Users", {"schemas": [USER_SCHEMA], "userName": "p@example.com", "password": "x"}),
        400,
        "mutability",
    )
    # etag: unsupported, so no ETag header and no meta.version.
    assert config["etag"] == {"supported": False}
    doc = new_user(scim)
    response = scim.client.get(f"/scim/v2/Users/{doc['id']}", headers=scim.headers)
    assert not response.has_header("ETag") and "version" not in json.loads(response.content)["meta"]
    # filter.maxResults: no page is larger, whatever count asks for.
    assert config["filter"] == {"supported": True, "maxResults": MAX_RESULTS}
    User.objects.bulk_create(
        User(email=f"u{n}@example.com", scim_username=f"u{n}@example.com", scim_id=f"bulk-{n}")
        for n in range(MAX_RESULTS + 5)
    )
    _, listed = scim.get("Users", count=MAX_RESULTS * 10)
    assert (listed["totalResults"], listed["itemsPerPage"]) == (MAX_RESULTS + 6, MAX_RESULTS)
    assert config["sort"] == {"supported": False} and config["patch"] == {"supported": True}


# --- RFC 7644 §3.4.2, §3.4.3: lists and searches ---


def test_lists_page_with_start_index_and_count_rfc7644_section_3_4_2_4(scim):
    ids = [new_user(scim, f"user{n}@example.com")["id"] for n in range(1, 4)]

    _, doc = scim.get("Users", startIndex=0, count=2)  # below 1 means 1
    assert doc["schemas"] == [LIST_RESPONSE]
    assert (doc["totalResults"], doc["startIndex"], doc["itemsPerPage"]) == (3, 1, 2)
    assert [r["id"] for r in doc["Resources"]] == ids[:2]
    _, doc = scim.get("Users", startIndex=-4)
    assert doc["startIndex"] == 1 and len(doc["Resources"]) == 3
    _, doc = scim.get("Users", count=0)
    assert (doc["totalResults"], doc["itemsPerPage"], doc["Resources"]) == (3, 0, [])
    _, doc = scim.get("Users", startIndex=10)
    assert (doc["totalResults"], doc["startIndex"], doc["Resources"]) == (3, 10, [])
    _, doc = scim.get("Groups")
    assert (doc["schemas"], doc["totalResults"], doc["Resources"]) == ([LIST_RESPONSE], 0, [])


def test_search_by_post_reads_filter_and_paging_from_its_body_rfc7644_section_3_4_3(scim):
    ids = [new_user(scim, f"user{n}@example.com")["id"] for n in range(1, 5)]
    new_user(scim, "other@elsewhere.org")

    status, doc = scim.post(
        "Users/.search",
        {"schemas": [SEARCH_REQUEST], "filter": 'userName sw "user"', "startIndex": 2, "count": 2},
    )
    assert status == 200
    assert (doc["totalResults"], doc["startIndex"], doc["itemsPerPage"]) == (4, 2, 2)
    assert [r["id"] for r in doc["Resources"]] == ids[1:3]
    # The filter is optional: without one, everything.
    _, doc = scim.post("Users/.search", {"schemas": [SEARCH_REQUEST], "count": 0})
    assert (doc["totalResults"], doc["Resources"]) == (5, [])
    _, doc = scim.post("Groups/.search", {"schemas": [SEARCH_REQUEST]})
    assert doc["totalResults"] == 0


def test_a_start_index_past_any_table_is_an_empty_page_not_an_error(scim):
    new_user(scim)
    _, doc = scim.get("Users", startIndex="9" * 30)
    assert (doc["totalResults"], doc["Resources"]) == (1, [])
    _, doc = scim.post("Users/.search", {"schemas": [SEARCH_REQUEST], "startIndex": 1e300})
    assert (doc["totalResults"], doc["Resources"]) == (1, [])


@pytest.mark.parametrize("start", [float("inf"), 2.5, True, "1e3"])
def test_a_start_index_that_is_no_integer_is_a_400(scim, start):
    status, doc = scim.post(
        "Users/.search", raw=json.dumps({"schemas": [SEARCH_REQUEST], "startIndex": start})
    )
    assert_error(status, doc, 400)


@pytest.mark.parametrize(
    "body, scim_type",
    [
        ({"filter": 'userName eq "a@example.com"'}, "invalidSyntax"),
        ({"schemas": [SEARCH_REQUEST], "filter": 'nickName eq "x"'}, "invalidFilter"),
        ({"schemas": [SEARCH_REQUEST], "filter": ["userName"]}, "invalidFilter"),
        ({"schemas": [SEARCH_REQUEST], "count": "many"}, "invalidValue"),
        ({"schemas": [SEARCH_REQUEST], "startIndex": {"n": 1}}, "invalidValue"),
    ],
)
def test_a_bad_search_is_a_400(scim, body, scim_type):
    assert_error(*scim.post("Users/.search", body), 400, scim_type)


def test_search_only_takes_post(scim):
    response = scim.client.get("/scim/v2/Users/.search", headers=scim.headers)
    assert_error(response.status_code, json.loads(response.content), 405)
    assert response["Allow"] == "POST"


# --- RFC 7644 §3.12: errors ---


def test_errors_carry_status_as_a_string_and_scim_content_type_rfc7644_section_3_12(scim):
    new_user(scim)
    responses = [
        scim.client.get("/scim/v2/Users/999999", headers=scim.headers),
        scim.client.get("/scim/v2/Users", {"filter": "userName eq"}, headers=scim.headers),
        scim.client.post(
            "/scim/v2/Users",
            json.dumps({"schemas": [USER_SCHEMA], "userName": "ada@example.com"}),
            content_type="application/scim+json",
            headers=scim.headers,
        ),
        scim.client.get("/scim/v2/ResourceTypes/Printer", headers=scim.headers),
        scim.client.get("/scim/v2/Users", headers={"Authorization": "Bearer nope"}),
    ]
    assert [r.status_code for r in responses] == [404, 400, 409, 404, 401]
    for response in responses:
        assert response["Content-Type"] == "application/scim+json"
        doc = json.loads(response.content)
        assert doc["schemas"] == [ERROR_SCHEMA]
        assert doc["status"] == str(response.status_code)
        assert doc["detail"]
    assert [json.loads(r.content).get("scimType") for r in responses[1:3]] == ["invalidFilter", "uniqueness"]


def test_every_success_answers_in_scim_json(scim):
    doc = new_user(scim)
    for path in (
        "ServiceProviderConfig",
        "ResourceTypes",
        "ResourceTypes/User",
        "Schemas",
        "Users",
        f"Users/{doc['id']}",
        "Groups",
    ):
        response = scim.client.get(f"/scim/v2/{path}", headers=scim.headers)
        assert (response.status_code, response["Content-Type"]) == (200, "application/scim+json"), path


# --- locations: the request's host, or SITE_URL ---


def all_locations(scim) -> list[str]:
    """Every location a client can be handed: meta.location, Location headers, $ref."""
    response = scim.client.post(
        "/scim/v2/Users",
        json.dumps({"schemas": [USER_SCHEMA], "userName": "ada@example.com"}),
        content_type="application/scim+json",
        headers=scim.headers,
    )
    assert response.status_code == 201, response.content
    user = json.loads(response.content)
    found = [response["Location"], user["meta"]["location"]]
    status, group = scim.post(
        "Groups", {"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"value": user["id"]}]}
    )
    assert status == 201
    found += [group["meta"]["location"], group["members"][0]["$ref"]]
    found.append(scim.get(f"Users/{user['id']}")[1]["groups"][0]["$ref"])
    found.append(scim.get("ServiceProviderConfig")[1]["meta"]["location"])
    found += [t["meta"]["location"] for t in scim.get("ResourceTypes")[1]["Resources"]]
    found += [s["meta"]["location"] for s in scim.get("Schemas")[1]["Resources"]]
    _, listed = scim.get("Users")
    found += [r["meta"]["location"] for r in listed["Resources"]]
    return found


def test_locations_use_the_host_the_request_came_in_on(settings):
    settings.SCIM_TOKEN = TOKEN
    settings.ALLOWED_HOSTS = ["reviews.example.org"]
    locations = all_locations(Scim(HTTP_HOST="reviews.example.org:8443"))
    assert len(locations) == 11
    assert all(url.startswith("http://reviews.example.org:8443/scim/v2/") for url in locations), locations


def test_locations_are_https_behind_a_tls_proxy(settings):
    settings.SCIM_TOKEN = TOKEN
    settings.ALLOWED_HOSTS = ["reviews.example.org"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    locations = all_locations(Scim(HTTP_HOST="reviews.example.org", HTTP_X_FORWARDED_PROTO="https"))
    assert all(url.startswith("https://reviews.example.org/scim/v2/") for url in locations), locations


def test_locations_use_site_url_when_it_is_set(settings):
    settings.SCIM_TOKEN = TOKEN
    settings.SCIM_SITE_URL = "https://reviews.example.com"
    locations = all_locations(Scim())
    assert all(url.startswith("https://reviews.example.com/scim/v2/") for url in locations), locations


def test_a_host_outside_allowed_hosts_is_a_400_and_creates_nothing(settings):
    settings.SCIM_TOKEN = TOKEN
    settings.ALLOWED_HOSTS = ["reviews.example.org"]
    client = Scim(HTTP_HOST="attacker.example")
    response = client.client.post(
        "/scim/v2/Users",
        json.dumps({"schemas": [USER_SCHEMA], "userName": "ada@example.com"}),
        content_type="application/scim+json",
        headers=client.headers,
    )
    assert response.status_code == 400
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "site_url, expected", [("https://reviews.example.com/", "https://reviews.example.com"), (None, "")]
)
def test_scim_site_url_is_set_only_when_site_url_is_in_the_environment(site_url, expected):
    code = "from django.conf import settings; print(repr(settings.SCIM_SITE_URL), repr(settings.SITE_URL))"
    env = processes.test_env(SITE_URL=site_url)
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=env,
        cwd=processes.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert out[0] == repr(expected)
    assert out[1] == repr(site_url.rstrip("/") if site_url else "http://127.0.0.1:8000")
