"""kombu's filesystem transport, made safe for the embedded default's concurrent writers and readers.

kombu's own transport creates a message file and then writes into it, while a worker may take
the file in between: it reads half a message (or none), the JSON error escapes the consumer and
Celery's worker exits ("Unrecoverable error"). Here:

- a message is written under a name readers skip, then renamed into the queue folder once
  complete (`os.replace` is atomic within a filesystem), so no reader sees half a message;
- a reader takes a file by renaming it into the processed folder (one reader wins the rename;
  kombu moves it to the system's temporary folder, a copy when that is another filesystem);
- a file that still cannot be read as a message (empty, truncated, not JSON, not a kombu
  message: written by hand, by an older process, or cut short by a crash) is moved into the
  `bad_folder` transport option's folder (default: `bad` next to the queue folder) with a
  warning naming it, and the reader goes on to the next message; that folder keeps the newest
  `bad_keep` files (default 1,000);
- a message's name starts with the time it was sent, zero-padded (kombu's is not, so its
  listing order breaks when the number of milliseconds gains a digit);
- a partly written file left by a writer killed mid-write is removed by a reader once it is an
  hour old (a reader looks for them at most every ten minutes);
- the exchange tables in the control folder are rewritten whole (temp name, then rename) under
  a lock file of their own, so a publisher never reads an empty table while a worker declares,
  and a binding is on disk before the process counts it as made.

Selected with Celery's `broker_transport` setting ("reviewapp.lib.filesystem_broker:Transport")
and the usual `filesystem://` URL and transport options.
"""

import logging
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from queue import Empty
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

log = logging.getLogger(__name__)

# Files being written carry this suffix (and a leading dot): never a queue's `<queue>.msg`.
PARTIAL = ".part"
# A partly written file this old (seconds) was left by a writer that died; readers look for them
# this often.
PARTIAL_MAX_AGE = 3600.0
TIDY_EVERY = 600.0
# Digits of a message name's time (milliseconds of the monotonic clock): some 30,000 years.
TIME_DIGITS = 15
BAD_KEEP = 1000


def _write_whole(path: Path, data: bytes) -> None:
    """`data` at `path`, which readers see either as before or complete, never in between."""
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}{PARTIAL}")
    try:
        with open(partial, "xb") as out:
            out.write(data)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


class Channel(filesystem.Channel):
    _tidy_at = 0.0  # when this reader next looks for files left partly written

    @cached_property
    def bad_folder(self) -> Path:
        folder = self.transport_options.get("bad_folder")
        return Path(folder) if folder else Path(self.data_folder_in).parent / "bad"

    @cached_property
    def bad_keep(self) -> int:
        return int(self.transport_options.get("bad_keep", BAD_KEEP))

    @cached_property
    def taken_folder(self) -> Path:
        """Where a reader moves a message it takes: the processed folder, on the queue's filesystem."""
        folder = Path(self.processed_folder)
        folder.mkdir(parents=True, exist_ok=True)  # else every rename below would fail, unnoticed
        return folder

    # --- messages -------------------------------------------------------------------------

    def _put(self, queue, payload, **kwargs):
        # The time first, so a sorted listing is the order messages were sent in.
        name = f"{round(monotonic() * 1000):0{TIME_DIGITS}d}_{uuid.uuid4()}.{queue}.msg"
        path = Path(self.data_folder_out) / name
        try:
            _write_whole(path, str_to_bytes(dumps(payload)))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {str(path)!r} to directory") from exc

    def _get(self, queue):
        wanted = f"{queue}.msg"
        folder = Path(self.data_folder_in)
        names = sorted(os.listdir(folder))
        if monotonic() >= self._tidy_at:
            self._tidy_at = monotonic() + TIDY_EVERY
            self._remove_stale_partials(folder, names)
        for name in names:
            if name.partition(".")[2] != wanted:
                continue
            taken = self.taken_folder / name
            try:
                # Out of the queue folder first: of several readers, one wins, and a file that turns
                # out to be bad is never read again.
                os.rename(folder / name, taken)
            except OSError:
                continue  # taken by another reader meanwhile
            message, problem = self._read(taken)
            if problem:
                self._set_aside(taken, queue, problem)
                continue
            if not self.store_processed:
                taken.unlink(missing_ok=True)
            return message
        raise Empty()

    def _read(self, path: Path) -> tuple[dict | None, str]:
        """The message in `path`, or why it is not one."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            return None, f"it cannot be read ({exc})"
        if not data.strip():
            return None, "it is empty"
        try:
            message = loads(bytes_to_str(data))
        except (ValueError, UnicodeDecodeError) as exc:
            return None, f"it is not JSON, or cut short ({exc})"
        try:
            # What the consumer does with it next: a payload it cannot build a message from would
            # raise there, outside any handler.
            self.Message(message, channel=self)
        except Exception as exc:
            return None, f"it is not a kombu message ({type(exc).__name__}: {exc})"
        return message, ""

    def _remove_stale_partials(self, folder: Path, names: list[str]) -> None:
        """Remove the files of writers killed mid-write: the queue folder's and the control folder's."""
        try:
            control = [self.control_folder / name for name in os.listdir(self.control_folder)]
        except OSError:
            control = []
        too_old = time.time() - PARTIAL_MAX_AGE
        for path in [*(folder / name for name in names), *control]:
            if not path.name.endswith(PARTIAL):
                continue
            try:
                if path.stat().st_mtime < too_old:
                    path.unlink()
                    log.warning("Removed %s, left partly written more than an hour ago", path)
            except OSError:
                pass  # gone meanwhile

    def _set_aside(self, path: Path, queue: str, problem: str) -> None:
        destination = self.bad_folder / path.name
        try:
            self.bad_folder.mkdir(parents=True, exist_ok=True)
            shutil.move(path, destination)
        except OSError as exc:
            log.warning(
                "Dropped the broker message %s of queue %s: %s; it could not be moved to %s (%s)",
                path.name, queue, problem, self.bad_folder, exc,
            )  # fmt: skip
            path.unlink(missing_ok=True)
            return
        log.warning(
            "Moved the broker message %s of queue %s to %s: %s", path.name, queue, destination, problem
        )
        self._prune_bad()

    def _prune_bad(self) -> None:
        """Keep the newest `bad_keep` files of the bad folder (by modification time: a message file's
        is when it was written)."""
        try:
            entries = [(entry.stat().st_mtime, entry.name) for entry in os.scandir(self.bad_folder)]
        except OSError:
            return
        if len(entries) <= self.bad_keep:
            return
        entries.sort()
        for _, name in entries[: len(entries) - self.bad_keep]:
            (self.bad_folder / name).unlink(missing_ok=True)

    # --- exchange tables (control folder) ------------------------------------------------------

    @contextmanager
    def _table_lock(self, file: Path):
        """The exchange table's own lock file: the table itself is replaced, not written in place."""
        self.control_folder.mkdir(parents=True, exist_ok=True)
        with open(file.with_name(file.name + ".lock"), "ab") as lock_file:
            filesystem.lock(lock_file, filesystem.LOCK_EX)
            try:
                yield
            finally:
                filesystem.unlock(lock_file)

    def _read_table(self, file: Path) -> list:
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        try:
            return [filesystem.exchange_queue_t(*q) for q in loads(bytes_to_str(data))]
        except (ValueError, TypeError, UnicodeDecodeError):
            # Cut short by a crash or by an older writer; the bindings are declared again by whoever
            # uses them (each worker at start, each publisher on its first message).
            log.warning("The exchange table %s is unreadable; taking it as empty", file)
            return []

    def get_table(self, exchange):
        return self._read_table(self._exchange_file(exchange))

    def queue_bind(self, queue, exchange=None, routing_key="", arguments=None, **kwargs):
        # kombu's order, but the table on disk first: kombu notes the binding in the process's memory
        # first, so another thread of the process would skip its own bind and publish before the
        # table exists, and its message would go nowhere.
        exchange = exchange or "amq.direct"
        if self.state.has_binding(queue, exchange, routing_key):
            return
        meta = self.typeof(exchange).prepare_bind(queue, exchange, routing_key, arguments)
        self._queue_bind(exchange, *meta)
        self.state.binding_declare(queue, exchange, routing_key, arguments)
        table = self.state.exchanges[exchange].setdefault("table", [])
        if meta not in table:
            table.append(meta)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        file = self._exchange_file(exchange)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        try:
            with self._table_lock(file):
                table = self._read_table(file)
                if binding not in table:
                    _write_whole(file, str_to_bytes(dumps([binding, *(q for q in table if q != binding)])))
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        # kombu's base class forgets the queue; its filesystem subclass would rewrite the table in place.
        super(filesystem.Channel, self)._delete(queue, exchange, routing_key, pattern, *args, **kwargs)
        file = self._exchange_file(exchange)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_lock(file):
            table = self._read_table(file)
            if binding in table:
                _write_whole(file, str_to_bytes(dumps([q for q in table if q != binding])))


class Transport(filesystem.Transport):
    Channel = Channel
