"""A hot INSERT compiled once per process stores the row `save()` stores, as the same statement, and
leaves the instance as `save()` leaves it; what it does not cover is saved the ORM's way."""

import uuid
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Value
from django.db.models.functions import Now
from django.db.models.signals import post_save
from django.db.models.sql import InsertQuery
from django.test.utils import CaptureQueriesContext

from reviewapp.feedback.models import Assessment
from reviewapp.lib.compiled import CompiledInsert
from tests import factories


def assessment(req, reviewer, **extra) -> Assessment:
    values = {
        "request": req,
        "app": req.app,
        "reviewer": reviewer,
        "source_id": reviewer.email,
        "created_at": datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
        "rating": "negative",
        "reasons": ["inaccurate", "ünïcode ☃", "𝄞"],
        "other_reason": "",
        "comment": "tab\tnew line\nback\\slash 'quote' \"double\"",
        "corrected_response": None,
        "retrieval_assessments": [
            {"position": 0, "doc_uri": "docs://a", "rating": "relevant", "comment": ""}
        ],
        "missing_sources": [{"doc_uri": "docs://b", "content": "x"}],
        "app_version": "7",
        "instructions_version": 3,
        "revision": 1,
        "awaits_summary": True,
    }
    return Assessment(**{**values, **extra})


def stored(row: Assessment) -> dict:
    fresh = Assessment.objects.get(pk=row.pk)
    return {f.attname: getattr(fresh, f.attname) for f in Assessment._meta.concrete_fields}


def in_memory(row: Assessment) -> dict:
    return {
        **{f.attname: getattr(row, f.attname) for f in Assessment._meta.concrete_fields},
        "adding": row._state.adding,
        "db": row._state.db,
    }


def without_ids(values: dict) -> dict:
    return {k: v for k, v in values.items() if k not in ("id", "assessment_id", "revision")}


@pytest.fixture
def req(app, querier):
    return factories.make_request(app, user=querier)


def test_the_row_and_the_instance_are_what_save_leaves(req, querier):
    compiled = CompiledInsert(Assessment)
    for n in range(3):  # planned, then cached
        by_orm = assessment(req, querier, revision=2 * n + 1)
        by_orm.save(force_insert=True)
        ours = assessment(req, querier, revision=2 * n + 2)
        compiled.insert(ours)

        assert isinstance(ours.pk, int) and ours.pk > by_orm.pk
        assert without_ids(stored(ours)) == without_ids(stored(by_orm))
        assert without_ids(in_memory(ours)) == without_ids(in_memory(by_orm))
        assert in_memory(ours)["adding"] is False and in_memory(ours)["db"] == "default"


def test_it_is_the_orms_statement_and_on_postgresql_prepared_once(req, querier):
    compiled = CompiledInsert(Assessment)
    with CaptureQueriesContext(connection) as queries:
        for n in range(3):
            compiled.insert(assessment(req, querier, revision=n + 1))
    assert len(queries.captured_queries) == 3
    assert all(q["sql"].startswith('INSERT INTO "feedback_assessment"') for q in queries.captured_queries)

    plan = compiled._plans[("default", connection.vendor)]
    query = InsertQuery(Assessment)
    query.insert_values(plan.fields, [assessment(req, querier)])
    orm = query.get_compiler(using="default")
    orm.returning_fields = list(Assessment._meta.db_returning_fields)
    assert plan.sql == orm.as_sql()[0][0]

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                ['INSERT INTO "feedback_assessment"%'],
            )
            assert cursor.fetchone() == (1,)


def test_an_expression_as_a_value_is_saved_the_orms_way(req, querier):
    compiled = CompiledInsert(Assessment)
    row = assessment(req, querier, created_at=Now(), comment=Value("from an expression"))
    compiled.insert(row)
    fresh = Assessment.objects.get(pk=row.pk)
    assert fresh.comment == "from an expression"
    assert fresh.created_at.year >= 2026
    assert row._state.adding is False


def test_with_a_signal_receiver_the_orms_save_runs(req, querier):
    compiled = CompiledInsert(Assessment)
    compiled.insert(assessment(req, querier, revision=1))  # planned without a receiver
    heard = []

    def receiver(sender, instance, created, **kwargs):
        heard.append((instance.pk, created))

    post_save.connect(receiver, sender=Assessment)
    try:
        row = assessment(req, querier, revision=2)
        compiled.insert(row)
    finally:
        post_save.disconnect(receiver, sender=Assessment)
    assert heard == [(row.pk, True)]


def test_a_refused_row_raises_as_save_does_and_spoils_the_transaction(req, querier):
    compiled = CompiledInsert(Assessment)
    first = assessment(req, querier, revision=1)
    compiled.insert(first)
    twin = assessment(req, querier, revision=2, assessment_id=first.assessment_id)
    spoiled = []
    with pytest.raises(IntegrityError), transaction.atomic():
        try:
            compiled.insert(twin)
        except IntegrityError:
            # As after save(): the transaction must be rolled back before it is used again.
            spoiled.append(connection.needs_rollback)
            raise
    assert spoiled == [True]
    assert twin.pk is None and twin._state.adding is True
    assert Assessment.objects.filter(assessment_id=first.assessment_id).count() == 1


def test_a_row_with_its_key_given_is_saved_the_orms_way(req, querier):
    compiled = CompiledInsert(Assessment)
    row = assessment(req, querier, id=10**9, assessment_id=uuid.uuid4())
    compiled.insert(row)
    assert Assessment.objects.get(pk=10**9).assessment_id == row.assessment_id
