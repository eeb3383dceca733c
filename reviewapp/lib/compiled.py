"""Hot queries compiled to SQL once per process.

Building and compiling a query with subqueries costs the ORM milliseconds of Python (it clones
querysets and resolves every expression) where the database answers in a fraction of one. A
`CompiledQuery` compiles its queryset once per database and shape with stand-in values, notes
where each value lands among the parameters, and afterwards only swaps the values in. The first
call with real values also compiles them the ORM's way and compares: a query whose parameters do
not map one to one (a value copied into the SQL text, say) is never cached, only compiled each time.
"""

import copy
import functools
import logging
import secrets
import uuid
import weakref
from collections.abc import Callable

from django.db import connections, transaction
from django.db.models import QuerySet, sql
from django.db.models.query import get_related_populators
from django.db.models.signals import post_save, pre_save

logger = logging.getLogger(__name__)

# How a stand-in can appear among the compiled parameters, and the same done to the real value.
_FORMS: tuple[Callable, ...] = (lambda v: v, lambda v: v.hex, str)


def _stand_in(value):
    if isinstance(value, bool) or value is None:
        raise TypeError("Booleans and None select a shape: pass them as `shape`, not as values.")
    if isinstance(value, int):
        return -secrets.randbits(60) - 1_000_000  # no real key is negative
    if isinstance(value, uuid.UUID):
        return uuid.uuid4()
    if isinstance(value, str):
        return f"stand-in-{secrets.token_hex(12)}"
    raise TypeError(f"No stand-in for a {type(value).__name__}.")


def _compile(queryset: QuerySet, using: str) -> tuple[str, tuple]:
    sql, params = queryset.query.get_compiler(using=using).as_sql()
    return sql, tuple(params)


class CompiledQuery:
    """`build(shape, **values)` returns a queryset of `model`; `first(shape, **values)` gives its
    first instance as the queryset itself would (select_related objects, deferred fields, and
    annotations and values converted as the ORM converts them)."""

    def __init__(self, model, build: Callable[..., QuerySet]):
        self.model = model
        self.build = build
        self._plans: dict = {}  # (database alias, shape) -> (sql, params, slots) or None: not cacheable
        self._readers: dict = {}  # (database alias, shape) -> what turns a row into instances

    def sql(self, shape: tuple, using: str = "default", **values) -> tuple[str, tuple]:
        key = (using, connections[using].vendor, shape)
        if key not in self._plans:
            self._plans[key] = self._plan(shape, using, values)
        plan = self._plans[key]
        if plan is None:
            return _compile(self.build(shape, **values), using)
        sql, params, slots = plan
        return sql, _swap(params, slots, values)

    def first(self, shape: tuple, using: str = "default", **values):
        key = (using, connections[using].vendor, shape)
        sql, params = self.sql(shape, using, **values)
        if self._plans[key] is None:
            return next(iter(self.build(shape, **values)), None)
        reader = self._readers.get(key)
        if reader is None:
            reader = self._readers.setdefault(key, _Reader(self.build(shape, **values), using))
        connection = connections[using]
        row = _run(connection, sql, params, _fetchone)
        return None if row is None else reader.instance(row, connection)

    def _plan(self, shape: tuple, using: str, values: dict):
        stand_ins = {name: _stand_in(value) for name, value in values.items()}
        sql, params = _compile(self.build(shape, **stand_ins), using)
        slots = [_slot(param, stand_ins) for param in params]
        if (sql, _swap(params, slots, values)) != _compile(self.build(shape, **values), using):
            logger.warning(
                "Query %r (shape %r) compiles differently per value: not cached.", self.build, shape
            )
            return None
        return sql, params, slots


def _swap(params: tuple, slots: list, values: dict) -> tuple:
    return tuple(
        param if slot is None else _FORMS[slot[1]](values[slot[0]])
        for param, slot in zip(params, slots, strict=True)
    )


def _slot(param, stand_ins: dict) -> tuple[str, int] | None:
    for name, stand_in in stand_ins.items():
        for index, form in enumerate(_FORMS):
            try:
                if param == form(stand_in) and type(param) is type(form(stand_in)):
                    return name, index
            except AttributeError:  # .hex of a non-UUID
                continue
    return None


def _fetchone(cursor):
    return cursor.fetchone()


def _run(connection, sql: str, params, fetch: Callable):
    """Runs a compiled statement; returns what `fetch` reads of its cursor.

    On PostgreSQL, unless something watches the connection's statements (the debug cursor of tests
    and DEBUG, an execute wrapper), it runs on one prepared cursor kept per connection, outside
    Django's cursor wrapper: a new wrapped cursor per statement cost the Feedback API's write about
    a tenth of its Python. What the wrapper does that matters is done here: the check for a broken
    transaction and the translation of the driver's errors into Django's."""
    if connection.vendor != "postgresql" or connection.queries_logged or connection.execute_wrappers:
        with _cursor(connection) as cursor:
            cursor.execute(sql, params)
            return fetch(cursor)
    cursor = _kept_cursor(connection)
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors:
        cursor.execute(sql, params, prepare=True)
        return fetch(cursor)


# Django connection -> (its psycopg connection, the cursor kept on it). Keyed by Django's object,
# which the cursor does not reference, so a closed connection's cursor goes with it.
_kept_cursors: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _kept_cursor(connection):
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    kept = _kept_cursors.get(connection)
    if kept is None or kept[0] is not connection.connection or kept[1].closed:
        from django.db.backends.postgresql.base import ServerBindingCursor

        with connection.wrap_database_errors:
            kept = _kept_cursors[connection] = (
                connection.connection,
                _raw_cursor(connection, ServerBindingCursor),
            )
    return kept[1]


def _cursor(connection):
    """A cursor for a compiled query. On PostgreSQL its statement is prepared on the connection
    (parsed and planned once: its SQL never changes), which needs server-side binding. Only these
    queries, each tested, bind that way; Django's own cursors keep client-side binding."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    return server_binding_cursor(connection, _prepared_cursor_class())


def server_binding_cursor(connection, cursor_class=None):
    """A Django cursor (PostgreSQL) whose values travel apart from the statement: what a statement
    of large arrays needs, each passed as `%b`, packed in binary instead of quoted element by
    element into the SQL text (a tenth of the client's work at thousands of elements)."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(_raw_cursor(connection, cursor_class or _logged_cursor_class()))


def _raw_cursor(connection, cursor_class):
    from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, register_tzloader
    from psycopg.pq import Format

    cursor = cursor_class(connection.connection)
    # As Django's create_cursor: times read in the connection's time zone.
    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    if connection.timezone != loader.timezone:
        register_tzloader(connection.timezone, cursor)
    return cursor


@functools.cache
def _logged_cursor_class():
    from django.db.backends.postgresql.base import ServerBindingCursor

    class LoggedServerBindingCursor(ServerBindingCursor):
        def execute(self, query, params=None, **kwargs):
            try:
                super().execute(query, params, **kwargs)
            finally:
                # Django's debug cursor (tests, DEBUG) reads the statement from here, a refused
                # one too; psycopg leaves it here without its values (or nothing, once prepared).
                self._query = _Bound(self.connection, query, params)
            return self

    return LoggedServerBindingCursor


@functools.cache
def _prepared_cursor_class():
    class PreparedCursor(_logged_cursor_class()):
        def execute(self, query, params=None, **kwargs):
            kwargs.setdefault("prepare", True)
            return super().execute(query, params, **kwargs)

    return PreparedCursor


class _Bound:
    """A statement with its values bound into the text, as Django's client-side cursors log it;
    bound only when read."""

    def __init__(self, connection, sql: str, params):
        self._connection, self._sql, self._params = connection, sql, params

    @property
    def query(self) -> bytes:
        from psycopg import ClientCursor

        # A binary placeholder (%b) is bound as text here: the logged statement runs as it reads.
        return ClientCursor(self._connection).mogrify(self._sql.replace("%b", "%s"), self._params).encode()


class _Reader:
    """What ModelIterable does with a row of a queryset, its compiler's work done once."""

    def __init__(self, queryset: QuerySet, using: str):
        compiler = queryset.query.get_compiler(using=using)
        compiler.as_sql()  # fills select, klass_info and the annotations' columns
        self.compiler = compiler
        self.using = using
        select, klass_info = compiler.select, compiler.klass_info
        self.model = klass_info["model"]
        fields = klass_info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.init_list = [column[0].target.attname for column in select[self.start : self.end]]
        self.populators = get_related_populators(klass_info, select, using)
        self.annotations = tuple(compiler.annotation_col_map.items())
        columns = [column[0] for column in select[: compiler.col_count]]
        if compiler.has_composite_fields(columns):
            raise TypeError("A compiled query cannot read a composite primary key.")
        self.converters = _Converters(compiler, columns)

    def instance(self, row: tuple, connection):
        row = self.converters.apply(row, connection)
        obj = self.model.from_db(self.using, self.init_list, row[self.start : self.end])
        for populator in self.populators:
            populator.populate(row, obj)
        for attr, position in self.annotations:
            setattr(obj, attr, row[position])
        return obj


class _Converters:
    """What results_iter applies to the columns of a row, kept per connection: the ORM works them
    out again for every row it reads. They read the connection (its time zone), so each thread's
    own, not the one compiled on."""

    def __init__(self, compiler, columns: list):
        self.compiler, self.columns = compiler, columns
        self._by_connection: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def apply(self, row, connection):
        converters = self._by_connection.get(connection)
        if converters is None:
            compiler = copy.copy(self.compiler)
            compiler.connection = connection
            converters = self._by_connection[connection] = tuple(
                compiler.get_converters(self.columns).items()
            )
        if not converters:
            return row
        row = list(row)
        for position, (functions, expression) in converters:
            value = row[position]
            for convert in functions:
                value = convert(value, expression, connection)
            row[position] = value
        return row


class CompiledInsert:
    """`insert(obj)` does what `obj.save(force_insert=True)` does for a new row of `model`, with its
    INSERT compiled once per database (the ORM compiles it again on every save: about a millisecond
    of Python on the Feedback API's write). The values are prepared as the ORM prepares them
    (`pre_save`, `get_db_prep_save`); a row the shortcut does not cover (a primary key given, an
    expression as a value, a parent model, signal receivers) is saved the ORM's way."""

    def __init__(self, model):
        self.model = model
        self._plans: dict = {}  # (database alias, vendor) -> _InsertPlan

    def insert(self, obj, using: str = "default") -> None:
        if obj.pk is not None or pre_save.has_listeners(self.model) or post_save.has_listeners(self.model):
            obj.save(force_insert=True, using=using)
            return
        connection = connections[using]
        obj._prepare_related_fields_for_save(operation_name="save")
        values = []
        for field in _insert_fields(self.model):
            value = field.pre_save(obj, add=True)
            if hasattr(value, "resolve_expression"):  # an expression, a database default
                obj.save(force_insert=True, using=using)
                return
            values.append(field.get_db_prep_save(value, connection=connection))
        key = (using, connection.vendor)
        plan = self._plans.get(key) or self._plans.setdefault(key, _InsertPlan(self.model, obj, using))
        with transaction.mark_for_rollback_on_error(using):
            rows = _run(
                connection,
                plan.sql,
                (*values, *plan.returning_params),
                lambda cursor: connection.ops.fetch_returned_rows(cursor, plan.returning_params),
            )
        obj._assign_returned_values(plan.returned.apply(rows[0], connection), plan.returning_fields)
        obj._state.db = using
        obj._state.adding = False


@functools.cache
def _insert_fields(model) -> list:
    """What the ORM inserts for a row whose key the database gives, in its order."""
    meta = model._meta
    return [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]


class _InsertPlan:
    """The INSERT the ORM compiles for one row of the model, each value a plain placeholder."""

    def __init__(self, model, obj, using: str):
        meta = model._meta
        connection = connections[using]
        if meta.parents or meta.order_with_respect_to or meta.pk is not meta.auto_field:
            raise TypeError(f"{model.__name__}: only a plain model with an automatic key compiles.")
        self.fields = _insert_fields(model)
        if any(getattr(field, "get_placeholder", None) for field in self.fields):
            raise TypeError(f"{model.__name__}: a field with its own placeholder compiles per value.")
        self.returning_fields = list(meta.db_returning_fields)
        if not connection.features.can_return_columns_from_insert:
            raise TypeError(f"{connection.vendor} cannot return the new row's key from its INSERT.")
        query = sql.InsertQuery(model)
        query.insert_values(self.fields, [obj])
        compiler = query.get_compiler(using=using)
        compiler.returning_fields = self.returning_fields
        ((self.sql, params),) = compiler.as_sql()
        self.returning_params = tuple(compiler.returning_params)
        if len(params) != len(self.fields) + len(self.returning_params):
            raise TypeError(f"{model.__name__}: the INSERT's parameters do not map one to a field.")
        self.returned = _Converters(compiler, [f.get_col(meta.db_table) for f in self.returning_fields])
