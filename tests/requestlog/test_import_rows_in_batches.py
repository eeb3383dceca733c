"""Rows are stored a batch at a time: the report lists every bad row with its line in file order
and counts each row once across batches, and a source that fails or a job cancelled between
batches leaves stored exactly the batches before."""

import sys
import threading

import pytest
from django.db.backends.signals import connection_created

from reviewapp.requestlog.models import Request
from reviewapp.requestlog.rows import BadRow
from reviewapp.requestlog.storage import (
    BATCH_SIZE,
    SWITCH_INTERVAL_SECONDS,
    ImportReport,
    import_rows,
    quick_handoffs,
)
from tests.requestlog.helpers import row

ROWS = 2 * BATCH_SIZE + 500


def numbered_rows():
    """Good rows, with in each batch a row the source could not read, one the checks refuse and an
    id seen before (in the same batch or an earlier one)."""
    for line in range(1, ROWS + 1):
        if line % BATCH_SIZE == 7:
            yield line, BadRow(f"unreadable line {line}")
        elif line % BATCH_SIZE == 8:
            yield line, row(line, request_id=f"r-{line}", request="")
        elif line % BATCH_SIZE == 9:
            yield line, row(line, request_id="r-1")
        else:
            yield line, row(line, request_id=f"r-{line}")


def test_errors_keep_their_lines_and_order_across_batches(app):
    progress = []
    report = import_rows(app=app, rows=numbered_rows(), report=ImportReport("t"), on_batch=progress.append)
    bad_lines = [n for n in range(1, ROWS + 1) if n % BATCH_SIZE in (7, 8)]
    assert [e["line"] for e in report.errors] == bad_lines
    assert report.errors[0] == {"line": 7, "reason": "unreadable line 7"}
    assert report.errors[1] == {"line": 8, "reason": "request is missing", "request_id": "r-8"}
    assert (report.rows_read, report.bad_rows, report.already_present) == (ROWS, 6, 3)
    assert report.imported == ROWS - 9 == Request.objects.filter(app=app).count()
    assert progress == [BATCH_SIZE, 2 * BATCH_SIZE, ROWS]


class SourceFailed(Exception):
    pass


def test_a_source_failing_halfway_leaves_the_batches_read_before_stored(app):
    def failing():
        for line, value in numbered_rows():
            if line == BATCH_SIZE + 300:
                raise SourceFailed("the connection dropped")
            yield line, value

    report = ImportReport("t")
    with pytest.raises(SourceFailed):
        import_rows(app=app, rows=failing(), report=report)
    assert report.rows_read == BATCH_SIZE
    assert Request.objects.filter(app=app).count() == BATCH_SIZE - 3


def test_a_job_stopped_after_a_batch_stores_no_further_batch(app):
    def stop(line):
        raise SourceFailed(f"cancelled after line {line}")

    with pytest.raises(SourceFailed, match=f"after line {BATCH_SIZE}$"):
        import_rows(app=app, rows=numbered_rows(), report=ImportReport("t"), on_batch=stop)
    assert Request.objects.filter(app=app).count() == BATCH_SIZE - 3


def test_the_thread_reading_ahead_opens_no_database_connection(app):
    # A connection opened there would belong to that thread: outside the batch's transaction, and
    # left open when the thread ends.
    opened_by = []

    def record(sender, connection, **kwargs):
        opened_by.append(threading.current_thread())

    connection_created.connect(record)
    try:
        report = import_rows(app=app, rows=numbered_rows(), report=ImportReport("t"))
    finally:
        connection_created.disconnect(record)
    assert report.imported == ROWS - 9
    assert [t for t in opened_by if t is not threading.current_thread()] == []


def test_an_import_shortens_the_switch_interval_while_it_runs_and_puts_it_back(app):
    before = sys.getswitchinterval()
    seen = []

    def watched():
        for line, value in numbered_rows():
            if line % BATCH_SIZE == 1:
                seen.append(sys.getswitchinterval())
            yield line, value

    import_rows(app=app, rows=watched(), report=ImportReport("t"))
    assert seen == [pytest.approx(SWITCH_INTERVAL_SECONDS)] * 3
    assert sys.getswitchinterval() == before


def test_the_switch_interval_comes_back_only_when_the_last_of_overlapping_imports_ends():
    before = sys.getswitchinterval()
    first_in, second_out = threading.Event(), threading.Event()
    during = []

    def first():
        with quick_handoffs():
            first_in.set()
            second_out.wait(10)
            during.append(sys.getswitchinterval())

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(10)
    with quick_handoffs():  # starts after the first and ends before it
        pass
    second_out.set()
    thread.join(10)
    assert during == [pytest.approx(SWITCH_INTERVAL_SECONDS)]
    assert sys.getswitchinterval() == before


def test_an_import_failing_puts_the_switch_interval_back(app):
    before = sys.getswitchinterval()

    def failing():
        yield 1, row(1, request_id="r-1")
        raise SourceFailed("the connection dropped")

    with pytest.raises(SourceFailed):
        import_rows(app=app, rows=failing(), report=ImportReport("t"))
    assert sys.getswitchinterval() == before
