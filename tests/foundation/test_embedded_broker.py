"""The embedded default's filesystem broker: whole messages only, and a bad one set aside, never fatal."""

import base64
import json
import os
import queue
import threading
import time
import uuid
from pathlib import Path

import pytest
from kombu import Connection

from tests.foundation.helpers import embedded_env, manage, migrated_with_api_user
from tests.processes import celery_args, process, tail, wait_until

TRANSPORT = "reviewapp.lib.filesystem_broker:Transport"


def broker_options(folder: Path) -> dict:
    names = {"data_folder_in": "in", "processed_folder": "processed", "control_folder": "control"}
    options = {key: str(folder / name) for key, name in names.items()}
    for path in options.values():
        Path(path).mkdir(parents=True)
    return {**options, "data_folder_out": options["data_folder_in"], "bad_folder": str(folder / "bad")}


def test_messages_written_while_others_read_them_arrive_whole_and_once(tmp_path):
    # kombu's own transport lets a reader take a file its writer has created but not yet filled:
    # here it lost about one message in a hundred, each with a JSONDecodeError.
    options = broker_options(tmp_path)
    writers, per_writer = 4, 150
    received, errors = [], []

    def write(writer: int) -> None:
        with Connection("filesystem://", transport=TRANSPORT, transport_options=options) as conn:
            sending = conn.SimpleQueue("race")
            for i in range(per_writer):
                sending.put({"writer": writer, "i": i, "padding": "x" * 20_000})

    def read() -> None:
        with Connection("filesystem://", transport=TRANSPORT, transport_options=options) as conn:
            taking = conn.SimpleQueue("race")
            deadline = time.monotonic() + 60
            while len(received) < writers * per_writer and time.monotonic() < deadline:
                try:
                    message = taking.get(timeout=0.2)
                except queue.Empty:
                    continue
                except Exception as exc:
                    errors.append(repr(exc))
                    continue
                received.append((message.payload["writer"], message.payload["i"]))
                message.ack()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    threads += [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(received) == [(w, i) for w in range(writers) for i in range(per_writer)]
    assert not (tmp_path / "bad").exists() or os.listdir(tmp_path / "bad") == []
    assert os.listdir(tmp_path / "in") == []


def a_message_cut_short() -> str:
    whole = json.dumps(
        {
            "body": "W1siam9iIl0sIHt9LCB7fV0=",
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {"lang": "py", "task": "reviewapp.ping", "id": str(uuid.uuid4())},
            "properties": {"delivery_tag": str(uuid.uuid4()), "body_encoding": "base64"},
        }
    )
    return whole[: len(whole) // 2]


def a_message_whose_body_is_not_json() -> str:
    """A well-formed kombu message: Celery's consumer, not the transport, deals with its body."""
    return json.dumps(
        {
            "body": base64.b64encode(b"{not json").decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {},
            "properties": {
                "delivery_tag": str(uuid.uuid4()),
                "body_encoding": "base64",
                "delivery_info": {"exchange": "celery", "routing_key": "celery"},
            },
        }
    )


# One import job of one row, sent through the broker; printed when it is done: status attempts imported.
RUN_AN_IMPORT = """
import time
from reviewapp.accounts.models import User
from reviewapp.catalog.models import App
from reviewapp.requestlog.services import start_rows_import
row = {"request_id": "6f1c1b9e-5a8e-4c1e-9d0a-000000000001", "request": "Still there?", "response": "Yes."}
job = start_rows_import(app=App.objects.get(slug="bot"), user=User.objects.get(), rows=[row])
deadline = time.monotonic() + 60
while not job.is_finished and time.monotonic() < deadline:
    time.sleep(0.2)
    job.refresh_from_db()
print(job.status, job.attempts, job.result.get("imported"), job.result.get("errors"))
"""


@pytest.mark.worker
def test_a_worker_sets_bad_messages_aside_keeps_running_and_runs_the_next_job(tmp_path):
    env = embedded_env(tmp_path / "var")
    queue_folder, bad_folder = tmp_path / "var" / "broker" / "in", tmp_path / "var" / "broker" / "bad"
    log = tmp_path / "worker.log"
    args = celery_args("worker", "--concurrency=1", "--without-mingle", "--without-gossip")
    with process(args, env, log) as worker:
        migrated_with_api_user(env)  # while the worker starts: it needs the database for the job only
        wait_until(lambda: " ready." in tail(log, 100_000), "the worker to be ready", timeout=120)
        # Named to sort first, as a file written before any real message would.
        bad = {
            f"{1:015d}_{uuid.uuid4()}.celery.msg": "",
            f"{2:015d}_{uuid.uuid4()}.celery.msg": a_message_cut_short(),
            f"{3:015d}_{uuid.uuid4()}.celery.msg": '{"not": "a kombu message"}',
        }
        for name, text in bad.items():
            (queue_folder / name).write_text(text)
        (queue_folder / f"{4:015d}_{uuid.uuid4()}.celery.msg").write_text(a_message_whose_body_is_not_json())

        wait_until(lambda: bad_folder.is_dir() and set(os.listdir(bad_folder)) == set(bad), "the bad folder")
        status = manage(env, "shell", "-c", RUN_AN_IMPORT).strip().splitlines()[-1]

        assert worker.poll() is None, tail(log)
    assert status == "succeeded 1 1 []", tail(log)
    said = log.read_text()
    for name in bad:
        assert f"Moved the broker message {name} of queue celery to {bad_folder / name}" in said
    assert "it is empty" in said
    assert "it is not JSON, or cut short" in said
    assert "it is not a kombu message" in said
    assert "Can't decode message body" in said  # Celery's consumer logged and dropped that one
    assert "Unrecoverable error" not in said
    for name, text in bad.items():
        assert (bad_folder / name).read_text() == text  # kept as it was, for whoever looks into it


def test_messages_come_out_in_the_order_they_were_sent_when_the_clock_gains_a_digit(tmp_path, monkeypatch):
    # kombu names a message after the milliseconds of the monotonic clock, unpadded: "10000_…"
    # lists before "9999_…". Milliseconds gain a digit after 2.8 hours, 28 hours, 11.6 days… of uptime.
    from reviewapp.lib import filesystem_broker

    options = broker_options(tmp_path)
    seconds = iter([9.998, 9.999, 10.000, 10.001])
    with Connection("filesystem://", transport=TRANSPORT, transport_options=options) as conn:
        line = conn.SimpleQueue("ordered")
        monkeypatch.setattr(filesystem_broker, "monotonic", lambda: next(seconds))
        for i in range(4):
            line.put({"i": i})
        monkeypatch.undo()
        received = []
        for _ in range(4):
            message = line.get(block=False)
            received.append(message.payload["i"])
            message.ack()
    assert received == [0, 1, 2, 3]


def test_the_bad_folder_keeps_only_the_newest_bad_messages(tmp_path):
    options = {**broker_options(tmp_path), "bad_keep": 3}
    queue_folder, bad_folder = tmp_path / "in", tmp_path / "bad"
    bad_folder.mkdir()
    old = bad_folder / f"{'1':0>15}_{uuid.uuid4()}.celery.msg"  # set aside by an earlier worker
    old.write_text("")
    os.utime(old, (time.time() - 86400, time.time() - 86400))
    names = [f"{i:015d}_{uuid.uuid4()}.mixed.msg" for i in range(2, 6)]
    for age, name in enumerate(reversed(names)):  # the first written first
        (queue_folder / name).write_text("{cut short")
        os.utime(queue_folder / name, (time.time() - 60 * (age + 1),) * 2)

    with (
        Connection("filesystem://", transport=TRANSPORT, transport_options=options) as conn,
        pytest.raises(queue.Empty),
    ):
        conn.SimpleQueue("mixed").get(block=False)

    assert sorted(os.listdir(bad_folder)) == names[1:]
    assert os.listdir(queue_folder) == []


def test_a_reader_removes_files_left_partly_written_over_an_hour_ago(tmp_path):
    options = broker_options(tmp_path)
    queue_folder, control_folder = tmp_path / "in", tmp_path / "control"
    stale = [
        queue_folder / f".{'7':0>15}_{uuid.uuid4()}.celery.msg.{uuid.uuid4().hex}.part",
        control_folder / f".celery.exchange.{uuid.uuid4().hex}.part",
    ]
    # Younger than an hour: a writer may still be busy with it (a slow disk, a large message).
    recent = queue_folder / f".{'8':0>15}_{uuid.uuid4()}.celery.msg.{uuid.uuid4().hex}.part"
    for path in [*stale, recent]:
        path.write_text('{"half": ')
    for path in stale:
        os.utime(path, (time.time() - 3700,) * 2)
    os.utime(recent, (time.time() - 3500,) * 2)

    with Connection("filesystem://", transport=TRANSPORT, transport_options=options) as conn:
        line = conn.SimpleQueue("celery")
        line.put({"whole": True})
        message = line.get(block=False)
        message.ack()

    assert message.payload == {"whole": True}
    assert [path.exists() for path in stale] == [False, False]
    assert recent.exists()
