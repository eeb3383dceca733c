"""SCIM 2.0 provisioning (RFC 7643/7644) through django-scim2: our adapters and hooks.

- userName is the person's email address: it is what they sign in with over OIDC, and what
  managers grant by. `emails[primary]`, when sent, must agree with it.
- name.formatted / givenName / familyName / displayName all land in `User.name`.
- A created user whose email belongs to a placeholder (granted before ever signing in) or to a
  user removed over SCIM earlier claims that row, so grants and history carry over.
- DELETE of a user deactivates and keeps the row (their feedback and requests stay attributed);
  the row also loses its SCIM id, so SCIM answers 404 for it from then on (RFC 7644 §3.6).
- A group's members are users' SCIM ids. A created group whose name matches a group made here or
  from the OIDC groups claim adopts it, so grants made to it by name keep applying.
"""

import copy
import re
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django_scim import adapters, constants, exceptions
from django_scim import middleware as scim_middleware
from django_scim import schemas as library_schemas
from django_scim.models import SCIMServiceProviderConfig

from reviewapp.lib.parsers import problem_in

from .middleware import scim_error
from .models import Group, User

CORE_USER = constants.SchemaURI.USER
CORE_GROUP = constants.SchemaURI.GROUP
LIST_RESPONSE = constants.SchemaURI.LIST_RESPONSE
RESOURCE_TYPE = constants.SchemaURI.RESOURCE_TYPE
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# Extension attributes (department, manager, ...) are accepted and ignored: nothing here uses them.
EXTENSION_PREFIX = "urn:ietf:params:scim:schemas:extension:"
# Largest page, advertised as filter.maxResults, and the page size when a request gives no count.
MAX_RESULTS = 200
DEFAULT_COUNT = 50
MEMBER_FILTER = re.compile(r'^members\[\s*value\s+eq\s+"(?P<id>[^"]*)"\s*\]$', re.IGNORECASE)
EMAIL_PATH = re.compile(r"^emails(\[.*\])?(\.value)?$", re.IGNORECASE)


def bad(detail: str, scim_type: str = "invalidValue") -> exceptions.BadRequestError:
    return exceptions.BadRequestError(detail, scim_type=scim_type)


def conflict(detail: str) -> exceptions.IntegrityError:
    return exceptions.IntegrityError(detail, scim_type="uniqueness")


def parse_bool(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    # Entra ID sends "True"/"False" as strings in PATCH operations.
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise bad(f"{name} must be true or false, not {value!r}")


def parse_email(name: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad(f"{name} is required and must be a string (the person's email address)")
    email = value.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise bad(f"{name} must be an email address, not {value!r}") from None
    if len(email) > User._meta.get_field("email").max_length:
        raise bad(f"{name} is longer than {User._meta.get_field('email').max_length} characters")
    return email


def parse_optional_str(name: str, value, max_length: int = 254) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise bad(f"{name} must be a string, not {type(value).__name__}")
    if len(value) > max_length:
        raise bad(f"{name} is longer than {max_length} characters")
    return value.strip()


def primary_email(value) -> str:
    """The primary (or else first) address of a SCIM `emails` value."""
    if isinstance(value, dict):  # OneLogin sends one object instead of a list
        value = [value]
    if isinstance(value, str):
        return parse_email("emails", value)
    if not isinstance(value, list) or not value or not all(isinstance(e, dict) for e in value):
        raise bad('emails must be a list of objects like {"value": "ada@example.com", "primary": true}')
    chosen = next((e for e in value if e.get("primary") is True), value[0])
    return parse_email("emails.value", chosen.get("value"))


def split_name(name: str) -> tuple[str, str]:
    given, _, family = name.partition(" ")
    return given, family


def strip_core_urn(path: str, urn: str) -> str:
    if path.lower().startswith(urn.lower() + ":"):
        return path[len(urn) + 1 :]
    return path


def check_text(body) -> None:
    """Text the database cannot store (NUL, unpaired surrogates) is a SCIM 400, as in the API."""
    problem = problem_in(body)
    if problem:
        raise bad(problem)


def check_body(body, schema: str) -> None:
    """A POST or PUT body: a JSON object of storable text that, if it lists schemas, lists `schema`."""
    if not isinstance(body, dict):
        raise bad("the body must be a JSON object", "invalidSyntax")
    check_text(body)
    schemas = body.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or schema not in schemas):
        raise bad(f"schemas must list {schema}", "invalidSyntax")


def check_operations(operations) -> list[dict]:
    check_text(operations)
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise bad("Operations must be a list of objects with op, path and value", "invalidSyntax")
    for operation in operations:
        op = operation.get("op")
        if not isinstance(op, str) or op.lower() not in {"add", "replace", "remove"}:
            raise bad(f"unknown PATCH op {op!r}; use add, replace or remove", "invalidSyntax")
        path = operation.get("path")
        if path is not None and (not isinstance(path, str) or not path.strip()):
            raise bad("path must be a non-empty string", "invalidPath")
        if path is None and op.lower() == "remove":
            raise bad("a remove operation needs a path", "noTarget")
        if path is None and not isinstance(operation.get("value"), dict):
            raise bad("without a path, value must be an object of attribute: value", "invalidValue")
    return operations


def expand(operations: list[dict]):
    """(op, path, value) triples; a path-less operation applies each key of its value."""
    for operation in operations:
        op, path, value = operation["op"].lower(), operation.get("path"), operation.get("value")
        if path is None:
            for key, item in value.items():
                yield op, key, item
        else:
            yield op, path.strip(), value


class SCIMUser(adapters.SCIMUser):
    @property
    def display_name(self) -> str:
        return self.obj.name or self.obj.email

    @property
    def meta(self) -> dict:
        return {
            "resourceType": self.resource_type,
            "created": self.obj.date_joined.isoformat(),
            # No lastModified: nothing records when a user last changed, and RFC 7643 §3.1
            # does not let it stay equal to `created` once the user has been modified.
            "location": self.location,
        }

    def to_dict(self) -> dict:
        given, family = split_name(self.obj.name)
        name = {"formatted": self.obj.name, "givenName": given, "familyName": family} if self.obj.name else {}
        return {
            "schemas": [CORE_USER],
            "id": self.id,
            "externalId": self.obj.scim_external_id or None,
            "userName": self.obj.email,
            "name": name,
            "displayName": self.display_name,
            "emails": [{"value": self.obj.email, "primary": True, "type": "work"}],
            "active": self.obj.is_active,
            "groups": self.groups,
            "meta": self.meta,
        }

    def validate_dict(self, d) -> None:
        check_body(d, CORE_USER)
        if "password" in d:
            raise bad("passwords are not set over SCIM: people sign in with single sign-on", "mutability")

    def from_dict(self, d: dict) -> None:
        """The whole user from a POST or PUT body (PUT replaces: attributes left out are cleared)."""
        email = parse_email("userName", d.get("userName"))
        if d.get("emails") is not None and primary_email(d["emails"]) != email:
            raise bad("the primary email must be the userName: people here sign in with their email")
        name = d.get("name")
        if name is not None and not isinstance(name, dict):
            raise bad("name must be an object with formatted, givenName and familyName")
        name = name or {}
        formatted = parse_optional_str("name.formatted", name.get("formatted"), 200)
        given = parse_optional_str("name.givenName", name.get("givenName"), 200)
        family = parse_optional_str("name.familyName", name.get("familyName"), 200)
        display = parse_optional_str("displayName", d.get("displayName"), 200)
        self.obj.email = email
        self.obj.scim_username = email
        self.obj.name = formatted or " ".join(p for p in (given, family) if p) or display
        self.obj.scim_external_id = parse_optional_str("externalId", d.get("externalId")) or None
        # Left out of a PUT, `active` keeps its value: clearing it would lock the person out.
        if d.get("active") is not None:
            self.obj.is_active = parse_bool("active", d["active"])

    def handle_operations(self, operations) -> None:
        names = {}
        for op, path, value in expand(check_operations(operations)):
            self.apply(op, strip_core_urn(path, CORE_USER), value, names)
        if names:
            given, family = split_name(self.obj.name)
            given = names.get("givenName", given)
            family = names.get("familyName", family)
            self.obj.name = names.get("formatted") or " ".join(p for p in (given, family) if p)
        self.save()

    def apply(self, op: str, path: str, value, names: dict) -> None:
        key = path.lower()
        removing = op == "remove"
        if key.startswith(EXTENSION_PREFIX):
            return
        if key == "active":
            if removing:
                raise bad("active cannot be removed; replace it with false", "mutability")
            self.obj.is_active = parse_bool("active", value)
        elif key == "username":
            if removing:
                raise bad("userName cannot be removed", "mutability")
            self.obj.email = self.obj.scim_username = parse_email("userName", value)
        elif EMAIL_PATH.match(path):
            if removing:
                raise bad("the email address cannot be removed", "mutability")
            email = parse_email(path, value) if isinstance(value, str) else primary_email(value)
            self.obj.email = self.obj.scim_username = email
        elif key in {"displayname", "name.formatted"}:
            names["formatted"] = "" if removing else parse_optional_str(path, value, 200)
            if not names["formatted"]:
                names.pop("formatted")
                self.obj.name = ""
        elif key in {"name.givenname", "name.familyname"}:
            field = "givenName" if key.endswith("givenname") else "familyName"
            names[field] = "" if removing else parse_optional_str(path, value, 200)
        elif key == "name":
            if removing:
                self.obj.name = ""
                return
            if not isinstance(value, dict):
                raise bad("name must be an object with formatted, givenName and familyName")
            for sub in ("formatted", "givenName", "familyName"):
                if sub in value:
                    names[sub] = parse_optional_str(f"name.{sub}", value[sub], 200)
        elif key == "externalid":
            self.obj.scim_external_id = None if removing else parse_optional_str(path, value) or None
        elif key == "id" and str(value) == self.id:
            return  # Okta repeats the id in path-less replace operations
        elif key in {"groups", "id", "meta"} or key.startswith("groups"):
            raise bad(f"{path} is read-only here; change membership on the group", "mutability")
        elif key == "password":
            raise bad("passwords are not set over SCIM: people sign in with single sign-on", "mutability")
        else:
            raise bad(f"unknown attribute path {path!r}", "invalidPath")

    def save(self) -> None:
        with transaction.atomic():
            other = User.objects.filter(email__iexact=self.obj.email).exclude(pk=self.obj.pk).first()
            if other is not None:
                claimable = self.obj.pk is None and (other.is_placeholder or other.scim_id is None)
                if not claimable:
                    raise conflict(f"a user with userName {self.obj.email} already exists")
                self.obj = self.claim(other)
            if self.obj.pk is None:
                self.obj.set_unusable_password()
            self.obj.is_placeholder = False
            self.obj.save()

    def claim(self, existing: User) -> User:
        """Move what the request set onto the placeholder (or earlier-removed) user's row."""
        existing.email = self.obj.email
        existing.scim_username = self.obj.scim_username
        existing.name = self.obj.name or existing.name
        existing.scim_external_id = self.obj.scim_external_id
        existing.is_active = self.obj.is_active
        existing.scim_id = str(existing.pk)
        return existing

    def delete(self) -> None:
        """Deactivate and keep: sessions, sign-in and API tokens stop; what they wrote stays."""
        self.obj.is_active = False
        self.obj.scim_id = None
        self.obj.save(update_fields=["is_active", "scim_id"])


class SCIMGroup(adapters.SCIMGroup):
    @property
    def meta(self) -> dict:
        return {
            "resourceType": self.resource_type,
            "created": self.obj.created_at.isoformat(),
            "location": self.location,
        }

    @property
    def members(self) -> list[dict]:
        users = self.obj.user_set.exclude(scim_id__isnull=True).order_by("pk")
        result = []
        for user in users:
            member = SCIMUser(user, self.request)
            result.append({"value": member.id, "$ref": member.location, "display": member.display_name})
        return result

    def to_dict(self) -> dict:
        return {
            "schemas": [CORE_GROUP],
            "id": self.id,
            "externalId": self.obj.scim_external_id or None,
            "displayName": self.obj.name,
            "members": self.members,
            "meta": self.meta,
        }

    def validate_dict(self, d) -> None:
        check_body(d, CORE_GROUP)

    def from_dict(self, d: dict) -> None:
        self.obj.name = self.parse_name(d.get("displayName"))
        self.obj.scim_external_id = parse_optional_str("externalId", d.get("externalId")) or None
        # Left out of a PUT, members stay: an accidental empty group would revoke access widely.
        self.new_members = self.users(d["members"]) if d.get("members") is not None else None

    @staticmethod
    def parse_name(value) -> str:
        name = parse_optional_str("displayName", value, 200)
        if not name:
            raise bad("displayName is required")
        return name

    @staticmethod
    def users(members) -> list[User]:
        if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
            raise bad('members must be a list of objects like {"value": "<user id>"}')
        ids = [str(m.get("value", "")) for m in members]
        users = list(User.objects.filter(scim_id__in=ids))
        missing = set(ids) - {u.scim_id for u in users}
        if missing:
            raise bad(f"no user with id {', '.join(sorted(missing))}")
        return users

    def handle_operations(self, operations) -> None:
        with transaction.atomic():
            for op, path, value in expand(check_operations(operations)):
                self.apply(op, strip_core_urn(path, CORE_GROUP), value)
            self.save()

    def apply(self, op: str, path: str, value) -> None:
        key = path.lower()
        one_member = MEMBER_FILTER.match(path)
        if key == "members" or one_member:
            if op == "remove":
                if one_member:
                    self.obj.user_set.remove(*self.users([{"value": one_member["id"]}]))
                elif value is None:
                    self.obj.user_set.clear()
                else:
                    self.obj.user_set.remove(*self.users(value))
            elif one_member:
                raise bad("add or replace members with path members and a list value", "invalidPath")
            elif op == "add":
                self.obj.user_set.add(*self.users(value))
            else:
                self.obj.user_set.set(self.users(value))
        elif key == "displayname":
            if op == "remove":
                raise bad("displayName cannot be removed", "mutability")
            self.obj.name = self.parse_name(value)
        elif key == "externalid":
            self.obj.scim_external_id = None if op == "remove" else parse_optional_str(path, value) or None
        elif key == "id" and str(value) == self.id:
            return  # Okta repeats the id in path-less replace operations
        elif key in {"id", "meta"}:
            raise bad(f"{path} is read-only", "mutability")
        else:
            raise bad(f"unknown attribute path {path!r}", "invalidPath")

    def save(self) -> None:
        with transaction.atomic():
            other = Group.objects.filter(name=self.obj.name).exclude(pk=self.obj.pk).first()
            if other is not None:
                if self.obj.pk is not None or other.source == Group.Source.SCIM:
                    raise conflict(f"a group named {self.obj.name!r} already exists")
                other.scim_external_id = self.obj.scim_external_id
                self.obj = other
            self.obj.source = Group.Source.SCIM
            self.obj.save()
            if getattr(self, "new_members", None) is not None:
                self.obj.user_set.set(self.new_members)
                self.new_members = None

    def delete(self) -> None:
        """Delete the group and so its grants, writing the audit row each grant removal needs."""
        from reviewapp.catalog.models import Level, PermissionAudit

        with transaction.atomic():
            for grant in self.obj.grants.select_related("app"):
                PermissionAudit.objects.record(
                    actor=None,
                    system="SCIM provisioning",
                    app=grant.app,
                    principal=f"group:{self.obj.name}",
                    before=Level(grant.level),
                    after=Level.NONE,
                )
            self.obj.delete()


class ServiceProviderConfig(SCIMServiceProviderConfig):
    def to_dict(self) -> dict:
        config = super().to_dict()
        config.update(
            {
                "filter": {"supported": True, "maxResults": MAX_RESULTS},
                "changePassword": {"supported": False},
                "patch": {"supported": True},
                "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
                "sort": {"supported": False},
                "etag": {"supported": False},
            }
        )
        if not config["documentationUri"]:
            del config["documentationUri"]
        return config


# --- discovery (RFC 7643 §6, §7; RFC 7644 §4) ---


def base_location(request=None, *args, **kwargs) -> str:
    """Where SCIM locations start: SITE_URL when it is set, else the host the request came in on.

    build_absolute_uri checks the host against ALLOWED_HOSTS and, behind a TLS proxy, takes the
    scheme from SECURE_PROXY_SSL_HEADER.
    """
    if request is not None and not settings.SCIM_SITE_URL:
        return request.build_absolute_uri("/")
    parts = urlsplit(settings.SCIM_SITE_URL or settings.SITE_URL)
    return f"{parts.scheme}://{parts.netloc}/"


def location(request, url_name: str, **kwargs) -> str:
    return urljoin(base_location(request), reverse(url_name, kwargs=kwargs or None))


# What the adapters above store and return, and so all that /Schemas advertises: a client that
# reads the schema must not expect attributes (nickName, phoneNumbers, ...) that are dropped here.
SUPPORTED_ATTRIBUTES = {
    CORE_USER: {
        "userName": None,
        "name": {"formatted", "familyName", "givenName"},
        "displayName": None,
        "active": None,
        "emails": {"value", "type", "primary"},
        "groups": {"value", "$ref", "display"},
    },
    CORE_GROUP: {"displayName": None, "members": {"value", "$ref", "display"}},
}
MEMBER_DISPLAY = {
    "name": "display",
    "type": "string",
    "multiValued": False,
    "description": "A human-readable name for the member, its displayName.",
    "required": False,
    "caseExact": False,
    "mutability": "readOnly",
    "returned": "default",
    "uniqueness": "none",
}


def _supported_schema(schema: dict) -> dict:
    wanted = SUPPORTED_ATTRIBUTES[schema["id"]]
    schema = copy.deepcopy(schema)
    attributes = []
    for attribute in schema["attributes"]:
        if attribute["name"] not in wanted:
            continue
        subs = wanted[attribute["name"]]
        if subs is not None:
            kept = [a for a in attribute.get("subAttributes", []) if a["name"] in subs]
            if "display" in subs and not any(a["name"] == "display" for a in kept):
                kept.append(MEMBER_DISPLAY)
            attribute["subAttributes"] = kept
        attributes.append(attribute)
    schema["attributes"] = attributes
    if schema["id"] == CORE_GROUP:
        # Required in RFC 7643 §4.2 and here, though the schema in its §8.7.1 says otherwise.
        next(a for a in attributes if a["name"] == "displayName")["required"] = True
    return schema


RESOURCE_SCHEMAS = [
    _supported_schema(schema) for schema in library_schemas.ALL if schema["id"] in SUPPORTED_ATTRIBUTES
]


def resource_schemas() -> list[dict]:
    """django-scim2's SCHEMAS_GETTER: the User and Group schemas, cut to what is supported."""
    return RESOURCE_SCHEMAS


def schema_documents(request) -> list[dict]:
    return [
        {
            "schemas": [SCHEMA],
            **schema,
            "meta": {
                "resourceType": "Schema",
                "location": location(request, "scim:schemas", uuid=schema["id"]),
            },
        }
        for schema in sorted(RESOURCE_SCHEMAS, key=lambda s: s["id"])
    ]


def resource_type_documents(request) -> list[dict]:
    types = [
        ("Group", "Group", "/Groups", CORE_GROUP),
        ("User", "User Account", "/Users", CORE_USER),
    ]
    return [
        {
            "schemas": [RESOURCE_TYPE],
            "id": name,
            "name": name,
            "description": description,
            # Relative to the base URL (.../scim/v2), as RFC 7643 §6 defines it.
            "endpoint": endpoint,
            "schema": schema,
            "meta": {
                "resourceType": "ResourceType",
                "location": location(request, "scim:resource-types", uuid=name),
            },
        }
        for name, description, endpoint, schema in types
    ]


def list_response(resources: list[dict], *, total: int, start: int) -> dict:
    """RFC 7644 §3.4.2: totalResults always; startIndex and itemsPerPage since pages may be partial."""
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": len(resources),
        "startIndex": start,
        "Resources": resources,
    }


def page(start, count) -> tuple[int, int]:
    """startIndex and count of a list or search request (RFC 7644 §3.4.2.4).

    A startIndex below 1 means 1 and a negative count means 0; count is capped at MAX_RESULTS,
    advertised as filter.maxResults.
    """
    start = 1 if start is None else max(_integer(start, "startIndex"), 1)
    count = DEFAULT_COUNT if count is None else min(max(_integer(count, "count"), 0), MAX_RESULTS)
    # Past any table we could hold: the page is empty, and the database never sees the number.
    return min(start, MAX_START_INDEX), count


MAX_START_INDEX = 2**31


def _integer(value, name: str) -> int:
    """An integer from a query string or a JSON body: 3, "3" and 3.0, never 3.5, true or Infinity."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise bad(f"{name} must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise bad(f"{name} must be an integer") from None


class SCIMViewAuthCheck(scim_middleware.SCIMAuthCheckMiddleware):
    """django-scim2's own check, wrapped around each SCIM view.

    Its default asks `request.user.is_authenticated`, but a SCIM client is not a user: it is
    authenticated by `accounts.middleware.SCIMAuthCheckMiddleware`, which marks the request.
    This is the library's AUTH_CHECK_MIDDLEWARE hook rather than GET_IS_AUTHENTICATED_PREDICATE,
    because the predicate is only given the user, never the request.
    """

    def process_request(self, request):
        if self.should_log_request(request):
            self.log_request(request)
        if not getattr(request, "scim_authenticated", False):
            return scim_error(401, "A valid SCIM bearer token is required")
        return None
