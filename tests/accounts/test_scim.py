"""SCIM 2.0 provisioning at /scim/v2/ (RFC 7643/7644) through the real django-scim2 views."""

import json

import pytest
from django.test import Client

from reviewapp.accounts.models import ApiToken, Group, User
from reviewapp.catalog.models import Level, PermissionAudit
from tests import factories

TOKEN = "scim-test-token-0123456789"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"

pytestmark = pytest.mark.django_db


class Scim:
    """A SCIM client: JSON in, (status, parsed body) out."""

    def __init__(self, token: str | None = TOKEN, **client_kwargs):
        self.client = Client(**client_kwargs)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body=None, raw: str | None = None):
        data = raw if raw is not None else (json.dumps(body) if body is not None else "")
        response = getattr(self.client, method)(
            f"/scim/v2/{path}", data=data, content_type="application/scim+json", headers=self.headers
        )
        if response.content:
            assert response["Content-Type"].startswith("application/scim+json"), response.content
        return response.status_code, (json.loads(response.content) if response.content else None)

    def get(self, path, **params):
        response = self.client.get(f"/scim/v2/{path}", params, headers=self.headers)
        return response.status_code, json.loads(response.content)

    def post(self, path, body=None, raw=None):
        return self.call("post", path, body, raw)

    def put(self, path, body):
        return self.call("put", path, body)

    def patch(self, path, *operations, raw=None):
        return self.call("patch", path, {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}, raw)

    def delete(self, path):
        return self.call("delete", path)


@pytest.fixture
def scim(settings):
    settings.SCIM_TOKEN = TOKEN
    return Scim()


def new_user(scim, email="ada@example.com", **extra):
    body = {"schemas": [USER_SCHEMA], "userName": email, "name": {"formatted": "Ada Lovelace"}}
    body.update(extra)
    status, doc = scim.post("Users", body)
    assert status == 201, doc
    return doc


def assert_error(status, doc, expected_status, scim_type=None):
    assert status == expected_status, doc
    assert doc["schemas"] == [ERROR_SCHEMA]
    assert str(doc["status"]) == str(expected_status)
    assert doc["detail"]
    if scim_type:
        assert doc["scimType"] == scim_type


# --- the whole provisioning story ---


def test_provisioned_group_grant_applies_until_the_user_is_deactivated(scim):
    app = factories.make_app("docs-bot")
    user_doc = new_user(scim)
    status, group_doc = scim.post(
        "Groups", {"schemas": [GROUP_SCHEMA], "displayName": "reviewers", "externalId": "grp-1"}
    )
    assert status == 201, group_doc
    group = Group.objects.get(name="reviewers")
    factories.grant(app, group, Level.CAN_QUERY)
    user = User.objects.get(email="ada@example.com")
    assert app.level_for(user) == Level.NONE

    status, doc = scim.patch(
        f"Groups/{group_doc['id']}", {"op": "add", "path": "members", "value": [{"value": user_doc["id"]}]}
    )
    assert status == 200, doc
    assert [m["value"] for m in doc["members"]] == [user_doc["id"]]
    assert app.level_for(user) == Level.CAN_QUERY

    # The person can sign in with a password (set by an admin) and use an API token ...
    user.set_password("pw-for-tests")
    user.save()
    _, raw_token = ApiToken.issue(user=user, name="laptop")
    session = Client()
    assert (
        session.post("/accounts/login/", {"login": "ada@example.com", "password": "pw-for-tests"}).status_code
        == 302
    )
    assert session.get("/apps/").status_code == 200
    assert Client().get("/api/v1/apps", headers={"Authorization": f"Bearer {raw_token}"}).status_code == 200

    status, doc = scim.patch(f"Users/{user_doc['id']}", {"op": "replace", "path": "active", "value": False})
    assert status == 200 and doc["active"] is False

    user.refresh_from_db()
    assert not user.is_active
    assert app.level_for(user) == Level.NONE
    # ... and after deactivation none of it works: password, token, or the session already open.
    refused = Client().post("/accounts/login/", {"login": "ada@example.com", "password": "pw-for-tests"})
    assert (refused.status_code, refused["Location"]) == (302, "/accounts/inactive/")
    assert "_auth_user_id" not in refused.client.session
    assert Client().get("/api/v1/apps", headers={"Authorization": f"Bearer {raw_token}"}).status_code == 401
    assert session.get("/apps/").status_code == 302  # back to the sign-in page


# --- users ---


def test_it_creates_a_user_from_username_name_and_external_id(scim):
    doc = new_user(
        scim, "Grace@Example.com", externalId="ext-7", name={"givenName": "Grace", "familyName": "Hopper"}
    )
    user = User.objects.get(scim_id=doc["id"])
    assert user.email == "grace@example.com"
    assert user.name == "Grace Hopper"
    assert user.scim_external_id == "ext-7"
    assert not user.has_usable_password()
    assert doc["userName"] == "grace@example.com"
    assert doc["emails"] == [{"value": "grace@example.com", "primary": True, "type": "work"}]
    assert doc["active"] is True
    assert doc["meta"]["resourceType"] == "User"
    assert doc["meta"]["location"].endswith(f"/scim/v2/Users/{doc['id']}")


def test_it_gets_a_user_by_id(scim):
    doc = new_user(scim)
    status, got = scim.get(f"Users/{doc['id']}")
    assert status == 200
    assert got["userName"] == "ada@example.com"
    assert got["name"]["formatted"] == "Ada Lovelace"


def test_creating_a_user_claims_the_placeholder_with_that_email(scim):
    app = factories.make_app("docs-bot")
    placeholder = User.objects.placeholder("lin@example.com")
    factories.grant(app, placeholder, Level.CAN_VIEW)

    doc = new_user(scim, "LIN@example.com", name={"formatted": "Lin Wu"})

    assert doc["id"] == placeholder.scim_id
    placeholder.refresh_from_db()
    assert not placeholder.is_placeholder
    assert placeholder.name == "Lin Wu"
    assert User.objects.filter(email__iexact="lin@example.com").count() == 1
    assert app.level_for(placeholder) == Level.CAN_VIEW


def test_a_duplicate_username_is_a_409_and_changes_nothing(scim):
    factories.make_user("taken@example.com")
    status, doc = scim.post("Users", {"schemas": [USER_SCHEMA], "userName": "TAKEN@example.com"})
    assert_error(status, doc, 409, "uniqueness")
    assert User.objects.filter(email="taken@example.com").count() == 1


def test_renaming_a_user_onto_another_users_email_is_a_409(scim):
    first = new_user(scim, "one@example.com")
    new_user(scim, "two@example.com")
    status, doc = scim.patch(
        f"Users/{first['id']}", {"op": "replace", "path": "userName", "value": "two@example.com"}
    )
    assert_error(status, doc, 409, "uniqueness")
    assert User.objects.get(scim_id=first["id"]).email == "one@example.com"


@pytest.mark.parametrize(
    "body, scim_type",
    [
        ({"schemas": [USER_SCHEMA]}, "invalidValue"),
        ({"schemas": [USER_SCHEMA], "userName": "not-an-email"}, "invalidValue"),
        ({"schemas": [USER_SCHEMA], "userName": 42}, "invalidValue"),
        (
            {"schemas": [USER_SCHEMA], "userName": "a" * 60 + "@" + "b" * 60 + "." + "c" * 150 + ".com"},
            "invalidValue",
        ),
        (
            {"schemas": [USER_SCHEMA], "userName": "a@example.com", "name": {"formatted": "x" * 201}},
            "invalidValue",
        ),
        ({"schemas": [USER_SCHEMA], "userName": "a@example.com", "active": "maybe"}, "invalidValue"),
        ({"schemas": [USER_SCHEMA], "userName": "a@example.com", "name": "Ada"}, "invalidValue"),
        (
            {
                "schemas": [USER_SCHEMA],
                "userName": "a@example.com",
                "emails": [{"value": "b@example.com", "primary": True}],
            },
            "invalidValue",
        ),
        ({"schemas": [USER_SCHEMA], "userName": "a@example.com", "emails": "nope@"}, "invalidValue"),
        ({"schemas": [USER_SCHEMA], "userName": "a@example.com", "externalId": ["x"]}, "invalidValue"),
        ({"schemas": [USER_SCHEMA], "userName": "a@example.com", "password": "hunter2"}, "mutability"),
        ({"schemas": [GROUP_SCHEMA], "userName": "a@example.com"}, "invalidSyntax"),
    ],
)
def test_a_bad_user_body_is_a_400_and_creates_nothing(scim, body, scim_type):
    before = User.objects.count()
    status, doc = scim.post("Users", body)
    assert_error(status, doc, 400, scim_type)
    assert User.objects.count() == before


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', ""])
def test_a_body_that_is_not_a_json_object_is_a_400(scim, raw):
    status, doc = scim.post("Users", raw=raw)
    assert_error(status, doc, 400, "invalidSyntax")


def test_put_replaces_the_user(scim):
    doc = new_user(scim, externalId="old")
    status, got = scim.put(
        f"Users/{doc['id']}",
        {
            "schemas": [USER_SCHEMA],
            "userName": "ada.l@example.com",
            "name": {"givenName": "Ada", "familyName": "King"},
        },
    )
    assert status == 200, got
    user = User.objects.get(scim_id=doc["id"])
    assert (user.email, user.name, user.scim_external_id, user.is_active) == (
        "ada.l@example.com",
        "Ada King",
        None,
        True,
    )


@pytest.mark.parametrize(
    "operation, field, expected",
    [
        ({"op": "replace", "path": "name.familyName", "value": "Byron"}, "name", "Ada Byron"),
        ({"op": "replace", "path": "displayName", "value": "Countess"}, "name", "Countess"),
        ({"op": "Replace", "value": {"name.givenName": "Augusta"}}, "name", "Augusta Lovelace"),
        ({"op": "add", "path": "externalId", "value": "ext-9"}, "scim_external_id", "ext-9"),
        ({"op": "remove", "path": "name"}, "name", ""),
        (
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "ada@new.example.com"},
            "email",
            "ada@new.example.com",
        ),
        ({"op": "replace", "path": "userName", "value": "ADA2@example.com"}, "email", "ada2@example.com"),
        ({"op": "replace", "value": {"active": "False"}}, "is_active", False),
        (
            {
                "op": "add",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "value": "R&D",
            },
            "name",
            "Ada Lovelace",
        ),
    ],
)
def test_patch_updates_one_attribute(scim, operation, field, expected):
    doc = new_user(scim)
    status, got = scim.patch(f"Users/{doc['id']}", operation)
    assert status == 200, got
    assert getattr(User.objects.get(scim_id=doc["id"]), field) == expected


@pytest.mark.parametrize(
    "operation, scim_type",
    [
        ({"op": "replace", "path": "nickName", "value": "x"}, "invalidPath"),
        ({"op": "remove"}, "noTarget"),
        ({"op": "frobnicate", "path": "active", "value": True}, "invalidSyntax"),
        ({"op": "replace", "path": "active", "value": "perhaps"}, "invalidValue"),
        ({"op": "replace", "path": "userName", "value": "nope"}, "invalidValue"),
        ({"op": "replace", "value": "not an object"}, "invalidValue"),
        ({"op": "add", "path": "groups", "value": [{"value": "1"}]}, "mutability"),
        ({"op": "remove", "path": "active"}, "mutability"),
    ],
)
def test_a_bad_patch_is_a_400_and_changes_nothing(scim, operation, scim_type):
    doc = new_user(scim)
    status, got = scim.patch(
        f"Users/{doc['id']}", {"op": "replace", "path": "displayName", "value": "Changed"}, operation
    )
    assert_error(status, got, 400, scim_type)
    user = User.objects.get(scim_id=doc["id"])
    assert (user.name, user.email, user.is_active) == ("Ada Lovelace", "ada@example.com", True)


def test_a_patch_without_operations_is_a_400(scim):
    doc = new_user(scim)
    status, got = scim.call("patch", f"Users/{doc['id']}", {"schemas": [PATCH_SCHEMA]})
    assert_error(status, got, 400, "invalidSyntax")
    status, got = scim.call("patch", f"Users/{doc['id']}", {"Operations": ["replace"]})
    assert_error(status, got, 400, "invalidSyntax")


def test_delete_deactivates_and_keeps_the_user_and_what_they_wrote(scim):
    from reviewapp.requestlog.models import Request

    doc = new_user(scim)
    user = User.objects.get(scim_id=doc["id"])
    app = factories.make_app("docs-bot")
    request = factories.make_request(app, user=user)

    status, body = scim.delete(f"Users/{doc['id']}")
    assert status == 204 and body is None

    user.refresh_from_db()
    assert not user.is_active
    assert Request.objects.get(pk=request.pk).user_id == user.pk
    # Gone for SCIM (RFC 7644 §3.6) ...
    assert_error(*scim.get(f"Users/{doc['id']}"), 404)
    _, listed = scim.get("Users", filter='userName eq "ada@example.com"')
    assert listed["totalResults"] == 0
    # ... and provisioning the person again brings the same row back.
    again = new_user(scim)
    user.refresh_from_db()
    assert again["id"] == str(user.pk) and user.is_active


def test_unknown_ids_are_404(scim):
    assert_error(*scim.get("Users/999999"), 404)
    assert_error(*scim.get("Groups/999999"), 404)
    assert_error(*scim.patch("Users/999999", {"op": "replace", "path": "active", "value": False}), 404)
    assert_error(*scim.delete("Groups/999999"), 404)


# --- listing ---


def test_it_lists_with_filter_start_index_and_count(scim):
    for n in range(1, 6):
        new_user(scim, f"user{n}@example.com", externalId=f"e{n}")
    new_user(scim, "other@elsewhere.org")

    status, doc = scim.get("Users", filter='userName sw "user"', startIndex=2, count=2)
    assert status == 200
    assert doc["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    assert (doc["totalResults"], doc["startIndex"], doc["itemsPerPage"]) == (5, 2, 2)
    assert [r["userName"] for r in doc["Resources"]] == ["user2@example.com", "user3@example.com"]

    _, doc = scim.get("Users", filter='userName eq "USER4@example.com"')
    assert [r["externalId"] for r in doc["Resources"]] == ["e4"]
    _, doc = scim.get("Users", filter='externalId eq "e1" or emails.value ew "elsewhere.org"')
    assert sorted(r["userName"] for r in doc["Resources"]) == ["other@elsewhere.org", "user1@example.com"]

    _, doc = scim.get("Users", startIndex=6, count=10)
    assert doc["totalResults"] == 6 and [r["userName"] for r in doc["Resources"]] == ["other@elsewhere.org"]
    _, doc = scim.get("Users", count=0)
    assert doc["totalResults"] == 6 and doc["Resources"] == []


def test_it_filters_on_active(scim):
    first = new_user(scim, "a@example.com")
    new_user(scim, "b@example.com")
    scim.patch(f"Users/{first['id']}", {"op": "replace", "path": "active", "value": False})
    _, doc = scim.get("Users", filter="active eq false")
    assert [r["userName"] for r in doc["Resources"]] == ["a@example.com"]


@pytest.mark.parametrize(
    "params",
    [
        {"filter": 'nickName eq "x"'},
        {"filter": "userName eq"},
        {"filter": 'active eq "yes"'},
        {"startIndex": "zero"},
        {"count": "many"},
    ],
)
def test_a_bad_list_query_is_a_400(scim, params):
    new_user(scim)
    status, doc = scim.get("Users", **params)
    assert_error(status, doc, 400)


# --- groups ---


def test_group_membership_add_replace_and_remove(scim):
    a, b, c = (new_user(scim, f"{n}@example.com")["id"] for n in "abc")
    status, group = scim.post(
        "Groups", {"schemas": [GROUP_SCHEMA], "displayName": "team", "members": [{"value": a}]}
    )
    assert status == 201, group
    gid = group["id"]

    def members():
        return sorted(m["value"] for m in scim.get(f"Groups/{gid}")[1]["members"])

    assert members() == [a]
    scim.patch(f"Groups/{gid}", {"op": "add", "path": "members", "value": [{"value": b}, {"value": c}]})
    assert members() == sorted([a, b, c])
    scim.patch(f"Groups/{gid}", {"op": "remove", "path": f'members[value eq "{b}"]'})
    assert members() == sorted([a, c])
    scim.patch(f"Groups/{gid}", {"op": "remove", "path": "members", "value": [{"value": a}]})
    assert members() == [c]
    scim.patch(f"Groups/{gid}", {"op": "replace", "path": "members", "value": [{"value": a}, {"value": b}]})
    assert members() == sorted([a, b])
    status, doc = scim.patch(
        f"Groups/{gid}", {"op": "replace", "value": {"id": gid, "displayName": "team-renamed"}}
    )
    assert status == 200 and doc["displayName"] == "team-renamed"
    scim.patch(f"Groups/{gid}", {"op": "remove", "path": "members"})
    assert members() == []


def test_group_list_filter_and_put(scim):
    user = new_user(scim)["id"]
    for name in ("alpha", "beta", "gamma"):
        assert scim.post("Groups", {"schemas": [GROUP_SCHEMA], "displayName": name})[0] == 201
    _, doc = scim.get("Groups", filter='displayName eq "BETA"')
    assert [g["displayName"] for g in doc["Resources"]] == ["beta"]
    gid = doc["Resources"][0]["id"]
    _, doc = scim.get("Groups", startIndex=2, count=1)
    assert doc["totalResults"] == 3 and [g["displayName"] for g in doc["Resources"]] == ["beta"]

    status, doc = scim.put(
        f"Groups/{gid}", {"schemas": [GROUP_SCHEMA], "displayName": "beta-2", "members": [{"value": user}]}
    )
    assert status == 200, doc
    assert doc["displayName"] == "beta-2" and [m["value"] for m in doc["members"]] == [user]
    _, doc = scim.get("Groups", filter=f'members[value eq "{user}"]')
    assert [g["displayName"] for g in doc["Resources"]] == ["beta-2"]


def test_creating_a_group_adopts_one_made_here_so_its_grants_apply(scim):
    app = factories.make_app("docs-bot")
    local = factories.make_group("support-team")
    factories.grant(app, local, Level.CAN_QUERY)
    user = new_user(scim)["id"]

    status, doc = scim.post(
        "Groups", {"schemas": [GROUP_SCHEMA], "displayName": "support-team", "members": [{"value": user}]}
    )
    assert status == 201, doc
    local.refresh_from_db()
    assert doc["id"] == local.scim_id and local.source == Group.Source.SCIM
    assert app.level_for(User.objects.get(scim_id=user)) == Level.CAN_QUERY
    # A second SCIM group of that name is a conflict.
    assert_error(
        *scim.post("Groups", {"schemas": [GROUP_SCHEMA], "displayName": "support-team"}), 409, "uniqueness"
    )


@pytest.mark.parametrize(
    "body, scim_type",
    [
        ({"schemas": [GROUP_SCHEMA]}, "invalidValue"),
        ({"schemas": [GROUP_SCHEMA], "displayName": 7}, "invalidValue"),
        ({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"value": "999999"}]}, "invalidValue"),
        ({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": "everyone"}, "invalidValue"),
        ({"schemas": [USER_SCHEMA], "displayName": "g"}, "invalidSyntax"),
    ],
)
def test_a_bad_group_body_is_a_400_and_creates_nothing(scim, body, scim_type):
    status, doc = scim.post("Groups", body)
    assert_error(status, doc, 400, scim_type)
    assert not Group.objects.exists()


def test_adding_an_unknown_member_is_a_400_and_changes_nothing(scim):
    user = new_user(scim)["id"]
    _, group = scim.post("Groups", {"schemas": [GROUP_SCHEMA], "displayName": "team"})
    status, doc = scim.patch(
        f"Groups/{group['id']}",
        {"op": "add", "path": "members", "value": [{"value": user}]},
        {"op": "add", "path": "members", "value": [{"value": "nobody"}]},
    )
    assert_error(status, doc, 400, "invalidValue")
    assert not Group.objects.get(name="team").user_set.exists()


def test_deleting_a_group_removes_its_grants_with_audit_rows(scim):
    app = factories.make_app("docs-bot")
    _, group = scim.post("Groups", {"schemas": [GROUP_SCHEMA], "displayName": "team"})
    factories.grant(app, Group.objects.get(name="team"), Level.CAN_QUERY)
    status, _ = scim.delete(f"Groups/{group['id']}")
    assert status == 204
    assert not Group.objects.filter(name="team").exists()
    audit = PermissionAudit.objects.get(app=app)
    assert (audit.principal, audit.before, audit.after) == ("group:team", "CAN_QUERY", "NONE")
    assert (audit.actor, audit.actor_email) == (None, "SCIM provisioning")


# --- discovery ---


def test_service_provider_config_resource_types_and_schemas(scim):
    status, config = scim.get("ServiceProviderConfig")
    assert status == 200
    assert config["patch"]["supported"] is True and config["filter"]["supported"] is True
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"

    status, types = scim.get("ResourceTypes")
    assert status == 200
    assert sorted(t["id"] for t in types["Resources"]) == ["Group", "User"]
    assert scim.get("ResourceTypes/User")[1]["endpoint"] == "/Users"
    assert_error(*scim.get("ResourceTypes/Printer"), 404)

    status, schemas = scim.get("Schemas")
    assert status == 200
    assert {USER_SCHEMA, GROUP_SCHEMA} <= {s["id"] for s in schemas["Resources"]}
    assert scim.get(f"Schemas/{USER_SCHEMA}")[1]["name"] == "User"


def test_a_negative_count_means_none_and_a_huge_one_is_capped(scim):
    new_user(scim)
    _, doc = scim.get("Users", count=-5)
    assert (doc["totalResults"], doc["itemsPerPage"], doc["Resources"]) == (1, 0, [])
    _, doc = scim.get("Users", count=10**9)
    assert doc["itemsPerPage"] == 1


def test_search_by_post_finds_users(scim):
    new_user(scim)
    status, doc = scim.post(
        "Users/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'userName eq "ada@example.com"',
        },
    )
    assert status == 200 and [r["userName"] for r in doc["Resources"]] == ["ada@example.com"]


def test_methods_on_the_wrong_target_are_405(scim):
    doc = new_user(scim)
    before = User.objects.count()
    assert_error(
        *scim.post(f"Users/{doc['id']}", {"schemas": [USER_SCHEMA], "userName": "q@example.com"}), 405
    )
    assert_error(*scim.put("Users", {"schemas": [USER_SCHEMA], "userName": "q@example.com"}), 405)
    assert_error(*scim.delete("Groups"), 405)
    assert User.objects.count() == before


def test_unsupported_endpoints_answer_in_the_error_schema(scim):
    assert_error(*scim.post("Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"]}), 501)
    assert_error(*scim.get("Printers"), 404)
    assert_error(*scim.call("post", "ServiceProviderConfig", {}), 405)


# --- authentication ---


def test_scim_is_off_without_a_token(settings):
    settings.SCIM_TOKEN = ""
    status, doc = Scim(token="anything").get("Users")
    assert_error(status, doc, 404)


@pytest.mark.parametrize("token", [None, "wrong-token", TOKEN + "x"])
def test_a_missing_or_wrong_token_is_a_401_and_changes_nothing(settings, token):
    settings.SCIM_TOKEN = TOKEN
    client = Scim(token=token)
    status, doc = client.get("Users")
    assert_error(status, doc, 401)
    status, doc = client.post("Users", {"schemas": [USER_SCHEMA], "userName": "x@example.com"})
    assert_error(status, doc, 401)
    assert not User.objects.filter(email="x@example.com").exists()


def test_basic_auth_and_a_signed_in_staff_session_are_not_enough(settings, staff):
    settings.SCIM_TOKEN = TOKEN
    client = Client()
    client.force_login(staff)
    response = client.get("/scim/v2/Users", headers={"Authorization": "Basic YWRtaW46cHc="})
    assert response.status_code == 401


def test_bearer_clients_need_no_csrf_token(settings):
    settings.SCIM_TOKEN = TOKEN
    client = Scim(enforce_csrf_checks=True)
    status, doc = client.post("Users", {"schemas": [USER_SCHEMA], "userName": "csrf@example.com"})
    assert status == 201, doc
    status, _ = client.patch(f"Users/{doc['id']}", {"op": "replace", "path": "active", "value": False})
    assert status == 200
    assert client.delete(f"Users/{doc['id']}")[0] == 204
