"""A kept database connection is checked before a request uses it without a statement of its own
(reviewapp.lib.postgresql): a healthy one serves the request as it is; one the server ended, or
left in a failed transaction, is replaced and the request is answered on a new one."""

import re
import select
import tempfile
from contextlib import contextmanager

import pytest
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext

from reviewapp.accounts.models import ApiToken
from reviewapp.feedback.models import Assessment
from tests import factories


@contextmanager
def on_the_wire():
    """The statements the database itself receives meanwhile: on PostgreSQL, libpq's trace of the
    messages sent (a simple Query, or the Execute of a parsed one); on SQLite, its trace callback.
    A health check's own `SELECT 1` would be here and not among the statements Django logs."""
    sent: list[str] = []
    raw = connection.connection
    if connection.vendor == "postgresql":
        from psycopg.pq import Trace

        with tempfile.TemporaryFile() as trace:
            raw.pgconn.trace(trace.fileno())
            raw.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
            try:
                yield sent
            finally:
                raw.pgconn.untrace()
            trace.seek(0)
            for query, execute in re.findall(
                r'^F\t\d+\t(?:Query\t "(.*)"$|(Execute)\t)', trace.read().decode(), re.M
            ):
                sent.append(query or execute)
    else:
        # Django's own logging of a statement quotes its values with a `SELECT QUOTE(?)`.
        raw.set_trace_callback(lambda sql: sql.startswith("SELECT QUOTE(") or sent.append(sql))
        try:
            yield sent
        finally:
            raw.set_trace_callback(None)


@pytest.fixture
def kept(monkeypatch):
    """The connection kept from request to request, as DB_CONN_MAX_AGE keeps it in production (the
    tests' settings close it after each). `next_request()` does what Django does when a request
    starts on a kept connection (close_old_connections): its health is to be checked again."""
    connection.ensure_connection()
    monkeypatch.setattr(connection, "close_at", None)

    def next_request():
        close_old_connections()
        assert connection.connection is not None

    return next_request


@pytest.fixture
def post_feedback(client, app, querier):
    req = factories.make_request(app, user=querier)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {ApiToken.issue(user=querier, name='t')[1]}"

    def post(rating: str):
        return client.post(
            f"/api/v1/apps/{app.slug}/feedback",
            {"request_id": str(req.request_id), "rating": rating},
            content_type="application/json",
        )

    return post


def backend_id():
    if connection.vendor == "postgresql":
        return connection.connection.info.backend_pid
    return id(connection.connection)


def test_a_healthy_kept_connection_serves_the_next_request_with_no_statement_of_its_own(
    transactional_db, kept, post_feedback
):
    assert post_feedback("positive").status_code == 201
    before = backend_id()

    kept()
    with on_the_wire() as sent, CaptureQueriesContext(connection) as logged:
        answer = post_feedback("negative")

    assert answer.status_code == 201, answer.content
    assert backend_id() == before
    # What reached the database is what the request ran, and nothing else: no `SELECT 1`.
    assert len(sent) == len(logged.captured_queries) > 0
    assert "SELECT 1" not in sent


def end_the_session(raw):
    """The server ends the connection (as a restart or an administrator does): pg_terminate_backend
    from another connection, then wait until the client's socket hears of it."""
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [raw.info.backend_pid])
            assert cursor.fetchone() == (True,)
    finally:
        other.close()
    readable, _, _ = select.select([raw.pgconn.socket], [], [], 10)
    assert readable, "the server never closed the connection"


def fail_its_transaction(raw):
    """A transaction left failed: the server refuses every statement in it until a rollback."""
    from psycopg import errors
    from psycopg.pq import TransactionStatus

    raw.execute("BEGIN")
    with pytest.raises(errors.DivisionByZero):
        raw.execute("SELECT 1 / 0")
    assert raw.info.transaction_status == TransactionStatus.INERROR


@pytest.mark.parametrize("breaks", [end_the_session, fail_its_transaction])
def test_a_kept_connection_gone_bad_between_two_requests_is_replaced_and_the_request_answered(
    transactional_db, kept, post_feedback, breaks
):
    assert post_feedback("positive").status_code == 201
    before = backend_id()

    kept()
    if connection.vendor == "postgresql":
        breaks(connection.connection)
    answer = post_feedback("negative")

    assert answer.status_code == 201, answer.content
    ratings = Assessment.objects.order_by("id").values_list("rating", flat=True)
    assert list(ratings) == ["positive", "negative"]
    if connection.vendor == "postgresql":
        assert backend_id() != before
    else:
        # A file on this machine: there is no server to end the connection or fail a transaction.
        assert backend_id() == before
