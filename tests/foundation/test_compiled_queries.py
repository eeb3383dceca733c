"""A hot query compiled once per process gives the SQL the ORM would give for every value, and a
query that cannot be compiled that way is compiled each time instead."""

import itertools
import threading
import uuid

import pytest
from django.db import connection, transaction
from django.db.models import Value
from django.db.models.functions import Concat
from django.db.transaction import TransactionManagementError

from reviewapp.accounts.models import User
from reviewapp.feedback.access import VISIBLE
from reviewapp.lib.compiled import CompiledQuery
from tests import factories


def orm_sql(query: CompiledQuery, shape, **values):
    sql, params = query.build(shape, **values).query.get_compiler(using="default").as_sql()
    return sql, tuple(params)


VISIBLE_SHAPES = [(*shape, False) for shape in itertools.product((True, False), repeat=3)] + [
    (manages, True, as_item, True) for manages, as_item in itertools.product((True, False), repeat=2)
]


@pytest.mark.parametrize("shape", VISIBLE_SHAPES)
def test_the_visibility_query_is_cached_and_swaps_in_each_value(db, shape):
    for n in range(3):
        values = {"app_id": 10 + n, "request_id": uuid.uuid4(), "user_id": 20 + n}
        if shape[3]:  # recording a call under an assessment_id
            values["assessment_id"] = uuid.uuid4()
        assert VISIBLE.sql(shape, **values) == orm_sql(VISIBLE, shape, **values)

    assert VISIBLE._plans[("default", connection.vendor, shape)] is not None


def test_it_finds_the_rows_of_each_value_it_is_given(app, querier, manager):
    mine = factories.make_request(app, user=querier)
    theirs = factories.make_request(app, user=manager)
    own_only = CompiledQuery(User, lambda shape, *, user_id: User.objects.filter(pk=user_id))

    assert own_only.first((), user_id=querier.pk).email == querier.email
    assert own_only.first((), user_id=manager.pk).email == manager.email
    # Not a manager of the app: only their own request is theirs to see.
    assert (
        VISIBLE.first((False, False, False, False), app_id=app.pk, request_id=mine.pk, user_id=querier.pk).pk
        == mine.pk
    )
    assert (
        VISIBLE.first((False, False, False, False), app_id=app.pk, request_id=theirs.pk, user_id=querier.pk)
        is None
    )


def test_a_value_written_into_the_sql_text_is_never_cached(db, querier, manager):
    # The email's prefix lands in the SQL as a parameter of its own, derived from the value: a swap
    # would miss it, so the query is compiled for each call.
    def build(shape, *, email):
        return User.objects.filter(email=Concat(Value(email.split("@")[0]), Value("@example.com")))

    derived = CompiledQuery(User, build)

    assert derived.first((), email=querier.email).pk == querier.pk
    assert derived.first((), email=manager.email).pk == manager.pk
    assert derived._plans[("default", connection.vendor, ())] is None


@pytest.mark.parametrize("staff", [False, True])
def test_the_app_and_level_query_is_cached(db, staff):
    from reviewapp.catalog.permissions import APP_WITH_LEVEL

    for n in range(3):
        values = {"slug": f"bot-{n}", "user_id": 30 + n}
        assert APP_WITH_LEVEL.sql((staff,), **values) == orm_sql(APP_WITH_LEVEL, (staff,), **values)

    assert APP_WITH_LEVEL._plans[("default", connection.vendor, (staff,))] is not None


def test_the_review_items_feedback_query_is_cached(db):
    from reviewapp.feedback.items import LATEST

    for n in range(3):
        values = {"request_id": uuid.uuid4(), "reviewer_id": 40 + n}
        assert LATEST.sql((), **values) == orm_sql(LATEST, (), **values)

    assert LATEST._plans[("default", connection.vendor, ())] is not None


def loaded(instance) -> dict:
    """Every attribute the database gave an instance: its loaded fields and annotations."""
    return {k: v for k, v in vars(instance).items() if k != "_state"}


def test_its_first_instance_is_the_querysets_own(app, querier):
    from reviewapp.feedback.services import record_feedback

    req = factories.make_request(app, user=querier)
    key = uuid.uuid4()
    row = record_feedback(
        request=req,
        reviewer=querier,
        changes={"rating": "negative", "reasons": ["inaccurate"]},
        assessment_id=key,
    ).assessment
    values = {"app_id": app.pk, "request_id": req.pk, "user_id": querier.pk, "assessment_id": key}
    for _ in range(2):  # planned, then cached
        compiled = VISIBLE.first((False, True, False, True), **values)
        orm = VISIBLE.build((False, True, False, True), **values)[0]

        # Deferred fields stay deferred; annotations (JSON, Exists, subqueries) converted as the ORM does.
        assert loaded(compiled) == loaded(orm)
        assert compiled.get_deferred_fields() == orm.get_deferred_fields() != set()
        assert compiled.reviewer_latest["rating"] == "negative"
        assert compiled.reviewer_has_drafts is False
        assert compiled.sent_before == row.pk


def test_the_api_token_and_its_user_are_one_cached_query(db, querier, django_assert_num_queries):
    from reviewapp.accounts.authentication import TOKEN_WITH_USER
    from reviewapp.accounts.models import ApiToken, hash_token

    for n in range(3):
        token, raw = ApiToken.issue(user=querier, name=f"token {n}")
        with django_assert_num_queries(1):
            found = TOKEN_WITH_USER.first((), token_hash=hash_token(raw))
            assert found.user.email == querier.email  # no second query for the user
        orm = ApiToken.objects.select_related("user").get(pk=token.pk)
        assert loaded(found) == loaded(orm) and loaded(found.user) == loaded(orm.user)

    assert TOKEN_WITH_USER.first((), token_hash=hash_token("rvw_unknown")) is None
    assert TOKEN_WITH_USER._plans[("default", connection.vendor, ())] is not None


def test_a_compiled_query_is_logged_with_its_values_and_on_postgresql_prepared_once(db, querier):
    from django.test.utils import CaptureQueriesContext

    own = CompiledQuery(User, lambda shape, *, user_id: User.objects.filter(pk=user_id))
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert own.first((), user_id=querier.pk).pk == querier.pk
    sql, _params = own.sql((), user_id=querier.pk)
    # As Django's own cursors log a statement: the value bound into its text.
    assert [q["sql"] for q in queries.captured_queries] == [sql % querier.pk] * 3

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement = %s",
                [sql.replace("%s", "$1")],
            )
            assert cursor.fetchone() == (1,)


def by_pk() -> CompiledQuery:
    return CompiledQuery(User, lambda shape, *, user_id: User.objects.filter(pk=user_id))


def test_unwatched_compiled_queries_are_prepared_too(db, querier):
    own = by_pk()
    for _ in range(3):  # nothing captures these statements: production's way
        assert own.first((), user_id=querier.pk).pk == querier.pk
    if connection.vendor == "postgresql":
        sql, _params = own.sql((), user_id=querier.pk)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement = %s",
                [sql.replace("%s", "$1")],
            )
            assert cursor.fetchone() == (1,)


def test_in_a_transaction_marked_for_rollback_a_compiled_query_is_refused_like_any_other(db, querier):
    own = by_pk()
    assert own.first((), user_id=querier.pk) is not None
    with transaction.atomic():
        transaction.set_rollback(True)  # as after an error caught inside the block
        with pytest.raises(TransactionManagementError):
            User.objects.filter(pk=querier.pk).first()
        with pytest.raises(TransactionManagementError):
            own.first((), user_id=querier.pk)


def test_after_its_connection_is_closed_a_compiled_query_runs_on_the_next_one(transactional_db):
    user = User.objects.create_user("closed-and-open@example.com", "pw")
    own = by_pk()
    assert own.first((), user_id=user.pk).pk == user.pk
    connection.close()
    assert own.first((), user_id=user.pk).pk == user.pk
    connection.close()
    assert own.first((), user_id=user.pk).email == "closed-and-open@example.com"


def test_compiled_queries_from_many_threads_each_read_their_own_rows(transactional_db):
    users = [User.objects.create_user(f"thread-{n}@example.com", "pw") for n in range(4)]
    own = by_pk()
    failures = []

    def read(user):
        try:
            for _ in range(50):
                found = own.first((), user_id=user.pk)
                if found is None or found.email != user.email:
                    failures.append((user.email, found))
        finally:
            connection.close()

    threads = [threading.Thread(target=read, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
