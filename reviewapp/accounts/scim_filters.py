"""SCIM `filter` expressions (RFC 7644 §3.4.2.2) turned into ORM queries.

Kept apart from scim.py because django-scim2's adapters module imports the filter classes while
it is itself being imported. The ORM (not django-scim2's raw SQL) gives case-insensitive `eq`,
which RFC 7643 asks for on userName, and the same behaviour on SQLite and PostgreSQL.
"""

from django.db.models import QuerySet
from django_scim import exceptions
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError
from scim2_filter_parser.transpilers.django_q_object import Transpiler

from .models import Group, User

BOOLEAN_FIELDS = {"is_active"}


class _StrictTranspiler(Transpiler):
    """The library's transpiler silently drops unknown attributes; a typo must be an error."""

    def visit_AttrPath(self, node):
        field = super().visit_AttrPath(node)
        if field is None:
            name = node.attr_name if isinstance(node.attr_name, str) else "a filtered attribute"
            if node.sub_attr:
                name = f"{name}.{node.sub_attr.value}"
            raise ValueError(f"cannot filter on {name!r}")
        return field


def _check_types(query) -> None:
    # `active eq "yes"` would reach the database as a text comparison on a boolean column.
    for child in query.children:
        if isinstance(child, tuple):
            lookup, value = child
            if lookup.split("__")[0] in BOOLEAN_FIELDS and not isinstance(value, bool):
                raise ValueError("active compares with true or false")
        else:
            _check_types(child)


class FilterQuery:
    model = None
    attr_map: dict = {}

    @classmethod
    def search(cls, filter_query: str, request=None) -> QuerySet:
        try:
            tree = SCIMParser().parse(SCIMLexer().tokenize(filter_query))
            query = _StrictTranspiler(cls.attr_map).transpile(tree)
            if query is None:
                raise ValueError("the filter matches no known attribute")
            _check_types(query)
        except (ValueError, SCIMParserError, LookupError) as exc:
            raise exceptions.BadRequestError(
                f"Invalid filter {filter_query!r}: {exc}", scim_type="invalidFilter"
            ) from None
        except Exception:  # the lexer raises bare errors on stray characters
            raise exceptions.BadRequestError(
                f"Invalid filter {filter_query!r}", scim_type="invalidFilter"
            ) from None
        return cls.listed().filter(query).distinct()

    @classmethod
    def listed(cls) -> QuerySet:
        """What lists show, in a stable order for paging (the SCIM id is a string: "10" < "9").

        Users removed over SCIM keep their row but have no SCIM id any more (see scim.py).
        """
        return cls.model.objects.exclude(scim_id__isnull=True).order_by("pk")


class UserFilterQuery(FilterQuery):
    model = User
    attr_map = {
        ("userName", None, None): "email",
        ("emails", None, None): "email",
        ("emails", "value", None): "email",
        ("externalId", None, None): "scim_external_id",
        ("id", None, None): "scim_id",
        ("active", None, None): "is_active",
        ("displayName", None, None): "name",
        ("name", "formatted", None): "name",
    }


class GroupFilterQuery(FilterQuery):
    model = Group
    attr_map = {
        ("displayName", None, None): "name",
        ("externalId", None, None): "scim_external_id",
        ("id", None, None): "scim_id",
        ("members", None, None): "user_set__scim_id",
        ("members", "value", None): "user_set__scim_id",
    }
