"""A JSONL import reads and builds its rows in a forked process: it stores exactly what reading in
a thread stores, raises what the reading raised, and leaves no process behind when either side
stops early. The parent's database connection is not disturbed by the child."""

import json
import os
import signal
from pathlib import Path

import pytest
import requests
from django.db import connection

from reviewapp.catalog.models import App
from reviewapp.jobs.models import Job
from reviewapp.requestlog.jsonl_import import iter_jsonl
from reviewapp.requestlog.models import Request, RetrievedDocument
from reviewapp.requestlog.rows import COLUMNS, build_row
from reviewapp.requestlog.storage import BATCH_SIZE, ImportReport, ReaderStopped, import_jsonl, import_rows
from tests.factories import make_app
from tests.jobs.stack import Stack, token_for
from tests.processes import wait_until
from tests.requestlog.helpers import jsonl, row, trace_dict

LINES = 2 * BATCH_SIZE + 300


def varied_lines() -> list:
    """Traced and plain rows with text ids (mapped per app, so two apps can hold the same file),
    lines that are not JSON, rows the checks refuse, ids repeated across batches and odd text."""
    lines = []
    for i in range(LINES):
        if i % 400 == 5:
            lines.append('{"request_id": "broken')
        elif i % 400 == 6:
            lines.append(row(i, request_id=f"r-{i}", request=""))
        elif i % 400 == 7:
            lines.append(row(i, request_id="r-0"))
        elif i % 400 == 8:
            lines.append(
                json.dumps(row(i, request_id=f"r-{i}", response="nul \\u0000 here")).replace("\\\\u", "\\u")
            )
        elif i % 3 == 0:
            docs = [(f"docs://{i % 7}/{k}", f"Passage {k}") for k in range(3)]
            lines.append(row(i, request_id=f"r-{i}", trace=trace_dict(f"Q{i}", f"A{i}", f"tr-{i}", docs)))
        else:
            lines.append(row(i, request_id=f"r-{i}"))
    return lines


def stored(app: App) -> list[tuple]:
    fields = [
        "conversation_id",
        "messages",
        "response",
        "trace",
        "mlflow_trace_id",
        "chunks",
        "documents",
        "text_altered",
        "created_at",
        "request_tokens",
    ]
    return sorted(Request.objects.filter(app=app).values_list(*fields), key=repr)


def children() -> set[int]:
    """The pids of this process's children (Linux)."""
    return {
        int(pid)
        for task in Path(f"/proc/{os.getpid()}/task").iterdir()
        for pid in (task / "children").read_text().split()
    }


def test_a_file_read_by_the_process_stores_what_a_reading_thread_stores(app, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(jsonl(varied_lines()))
    other = make_app("read-by-a-thread")
    progress = []

    by_process = import_jsonl(app=app, path=path, report=ImportReport("jsonl"), on_batch=progress.append)
    by_thread = import_rows(app=other, rows=iter_jsonl(path), report=ImportReport("jsonl"))

    assert by_process.as_dict() == by_thread.as_dict()
    assert (by_process.rows_read, by_process.bad_rows, by_process.already_present) == (LINES, 12, 6)
    assert by_process.imported == Request.objects.filter(app=app).count() == LINES - 18
    assert progress == [BATCH_SIZE, 2 * BATCH_SIZE, LINES]
    assert stored(app) == stored(other)
    assert Request.objects.filter(app=app, text_altered=True).count() == 6
    assert (
        RetrievedDocument.objects.filter(app=app).count()
        == RetrievedDocument.objects.filter(app=other).count()
        > 0
    )
    # The same connection, still usable: the child never spoke on it, nor closed it on exit.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_a_row_sent_without_its_decoded_json_stores_the_same_values(app):
    built = build_row(app, row(1, trace=trace_dict("Q", "A", "tr-1", [("docs://x", "Text")])))
    sent = built.without_decoded_json()
    assert sent.values[COLUMNS.index("trace")] is None and built.trace is not None
    assert sent.copied() == built.copied()
    full, rebuilt = built.request(), sent.request()
    assert [(f.attname, getattr(rebuilt, f.attname)) for f in Request._meta.concrete_fields] == [
        (f.attname, getattr(full, f.attname)) for f in Request._meta.concrete_fields
    ]


def test_what_the_reading_raised_is_raised_here_and_nothing_is_stored(app, tmp_path):
    before = children()
    with pytest.raises(FileNotFoundError):
        import_jsonl(app=app, path=tmp_path / "gone.jsonl", report=ImportReport("jsonl"))
    assert not Request.objects.filter(app=app).exists()
    assert children() == before


def test_where_no_process_can_be_forked_the_file_is_read_in_a_thread(app, tmp_path, monkeypatch):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(jsonl(varied_lines()))

    def no_more_processes():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_more_processes)
    report = import_jsonl(app=app, path=path, report=ImportReport("jsonl"))
    assert (report.imported, report.bad_rows, report.already_present) == (LINES - 18, 12, 6)


class Cancelled(Exception):
    pass


def test_an_import_stopped_here_stops_the_reading_process(app, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(jsonl(row(i, request_id=f"r-{i}") for i in range(5 * BATCH_SIZE)))

    def cancel(line):
        raise Cancelled(line)

    before = children()
    with pytest.raises(Cancelled):
        import_jsonl(app=app, path=path, report=ImportReport("jsonl"), on_batch=cancel)
    assert Request.objects.filter(app=app).count() == BATCH_SIZE
    assert children() == before


def test_a_reading_process_that_dies_fails_the_import_with_the_batches_before_kept(app, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(jsonl(row(i, request_id=f"r-{i}") for i in range(5 * BATCH_SIZE)))

    before = children()

    def kill_the_reader(line):
        [reader] = children() - before
        os.kill(reader, signal.SIGKILL)

    report = ImportReport("jsonl")
    with pytest.raises(ReaderStopped, match=r"exit code -9"):
        import_jsonl(app=app, path=path, report=report, on_batch=kill_the_reader)
    # What the pipe held when it died may be stored too, never half a batch.
    assert Request.objects.filter(app=app).count() % BATCH_SIZE == 0
    assert Request.objects.filter(app=app).count() == report.imported < 5 * BATCH_SIZE
    assert children() == before


@pytest.mark.worker
@pytest.mark.timeout(300)
def test_a_worker_of_the_production_pool_imports_through_a_reading_process(
    transactional_db, app, manager, tmp_path
):
    # Its pool's processes are daemonic, which multiprocessing would refuse a child.
    rows = [row(i, request_id=f"r-{i}") for i in range(LINES)]
    with Stack(tmp_path) as stack:
        stack.redis.start()
        stack.web()
        stack.worker("production", pool="prefork")
        answer = requests.post(
            f"{stack.url}/api/v1/apps/{app.slug}/traces:import",
            json={"rows": rows},
            headers={"Authorization": f"Bearer {token_for(manager)}"},
            timeout=60,
        )
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["job_id"]
        wait_until(
            lambda: Job.objects.get(pk=job_id).finished_at is not None, "the import to end", timeout=120
        )
        job = Job.objects.get(pk=job_id)
        assert job.status == Job.Status.SUCCEEDED, f"{job.error}\n{stack.log('production')}"
    assert job.result["imported"] == LINES == Request.objects.filter(app=app).count()
