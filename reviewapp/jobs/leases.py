"""One worker at a time on a row: a claim by conditional UPDATE, held for a lease.

Background jobs, the MLflow step of exports and the feedback write-back all work this way. A
worker claims a row with one `UPDATE ... WHERE <still to do> AND <lease free>`, so of two
workers only one gets it and a redelivered task never does the work twice. The holder renews
the lease while it works and releases it when done; a dead worker's row is free again once its
lease runs out, and the next attempt takes it over.

The claim's `attempts` value is the holder's fencing token: every later write of the holder
(renew, progress, release) is conditional on it, so a worker that paused past its lease and was
taken over cannot overwrite the new holder's work; it gets LeaseLost and must stop.
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.models import F, Q, QuerySet
from django.utils import timezone

log = logging.getLogger(__name__)


class Busy(Exception):
    """Another worker holds the row; it may be free again in `retry_in` seconds."""

    def __init__(self, message: str, retry_in: float):
        super().__init__(message)
        self.retry_in = retry_in


class LeaseLost(Exception):
    """Another worker took the row over after this holder's lease ran out; the holder must stop."""


@dataclass(frozen=True)
class Lease:
    """How long a claim holds, and the row's columns for it: held until `until`, `attempts` claims.

    `length` is a duration, or the name of a setting holding seconds (read at each use).
    """

    length: timedelta | str
    until: str = "lease_until"
    attempts: str = "attempts"

    @property
    def duration(self) -> timedelta:
        if isinstance(self.length, str):
            return timedelta(seconds=getattr(settings, self.length))
        return self.length

    def free(self, now=None) -> Q:
        """Rows nobody holds: never claimed, released, or left by a worker that died."""
        now = now or timezone.now()
        return Q(**{f"{self.until}__isnull": True}) | Q(**{f"{self.until}__lt": now})

    def claim(self, rows: QuerySet, **changes) -> bool:
        """Take the row of `rows` (one pk, still to do) if nobody holds it, counting an attempt."""
        now = timezone.now()
        taken = rows.filter(self.free(now)).update(
            **{self.until: now + self.duration, self.attempts: F(self.attempts) + 1}, **changes
        )
        return bool(taken)

    def renewed(self) -> dict:
        """The column values that extend the holder's lease (merge them into its progress UPDATE)."""
        return {self.until: timezone.now() + self.duration}

    def released(self) -> dict:
        return {self.until: None}

    def renew(self, rows: QuerySet, attempt: int, **changes) -> None:
        """Extend the lease of the holder of claim `attempt`, writing `changes` with it."""
        self._write(rows, attempt, **{**self.renewed(), **changes})

    def release(self, rows: QuerySet, attempt: int, **changes) -> None:
        """Let go of the row held by claim `attempt`, writing `changes` (the outcome) with it."""
        self._write(rows, attempt, **changes, **self.released())

    def _write(self, rows: QuerySet, attempt: int, **changes) -> None:
        # A later claim counted another attempt: that worker holds the row now, not this one.
        if not rows.filter(**{self.attempts: attempt}).update(**changes):
            raise LeaseLost(f"attempt {attempt} no longer holds the row")

    def busy(self, row, what: str) -> Busy:
        """Busy for `row`, which another worker holds, with the time left on its lease."""
        until = getattr(row, self.until)
        left = (until - timezone.now()).total_seconds() if until else 0
        return Busy(f"{what} is held by another worker", retry_in=max(left, 0) + 1)


class Heartbeat:
    """Renews a holder's lease from a thread of its own every third of the lease while it works,
    so the lease can be short whatever the pace of the work: once the heartbeat stops (the worker
    died), the row is free within one lease.

    A context manager around the work. Renewals are fenced like every write of the holder: once
    another worker has taken the row over, the heartbeat stops (the holder's next write raises
    LeaseLost). A failed renewal (a locked SQLite database, a database restarting) is tried again
    at the next beat.

    The heartbeat only says the worker lives, not that the work moves: a hung call would hold the
    row for good. So with `stall_after` seconds, it stops renewing once the holder has not called
    `progressed()` for that long; the lease then runs out and another worker takes the row over
    (the hung holder's later writes raise LeaseLost). Renewals resume should the work move again
    before anyone took the row.

    The thread has a database connection of its own, closed when it ends. (On SQLite the holder
    must not keep a read open while it writes: after another connection's write, the holder's
    next write would fail with "database is locked"; exports read their selection in pages.)
    """

    def __init__(
        self,
        lease: Lease,
        rows: QuerySet,
        attempt: int,
        every: float | None = None,
        stall_after: float | None = None,
    ):
        self.lease, self.rows, self.attempt = lease, rows, attempt
        self.every = every if every is not None else lease.duration.total_seconds() / 3
        self.stall_after = stall_after
        self.lost = False
        self.stalled = False
        self._progressed = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)

    def progressed(self) -> None:
        """The holder's work moved on (a batch done, a progress report): keep holding the row."""
        self._progressed = time.monotonic()

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        # A renewal stuck on a lock is left to finish on its own: its write is fenced anyway.
        self._thread.join(timeout=max(self.every, 5))

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.every):
                if self._stalled():
                    continue
                try:
                    self.lease.renew(self.rows, self.attempt)
                except LeaseLost:
                    self.lost = True
                    log.info("attempt %s lost its lease; the heartbeat stops", self.attempt)
                    return
                except DatabaseError as exc:
                    log.warning("could not renew the lease of attempt %s: %s", self.attempt, exc)
        finally:
            connections.close_all()  # this thread's own

    def _stalled(self) -> bool:
        idle = time.monotonic() - self._progressed
        stalled = self.stall_after is not None and idle > self.stall_after
        if stalled and not self.stalled:
            log.warning(
                "attempt %s made no progress for %.0f s: its lease is left to run out so another "
                "worker can take the work over",
                self.attempt,
                idle,
            )
        elif self.stalled and not stalled:
            log.info("attempt %s moves again: its lease is renewed", self.attempt)
        self.stalled = stalled
        return stalled


def let_go(task, lost: LeaseLost) -> str:
    """End a Celery task whose work was taken over: the new holder finishes it, nothing failed."""
    log.info("%s[%s] lost its lease to another worker: %s", task.name, task.request.id, lost)
    return "lost"


def retry_while_busy(task, busy: Busy, *, max_retries: int, countdown: float | None = None) -> str:
    """Run a Celery task again once the lease it ran into may be over (or after `countdown`).

    Waiting on another worker is normal, so it is a plain retry (Celery logs it at INFO, without
    a traceback), never an error. After `max_retries` the holder is alive, since it keeps renewing
    its lease: the task lets go quietly and the holder finishes the work.
    """
    if task.request.retries >= max_retries:
        log.info("%s[%s] left the work to its holder: %s", task.name, task.request.id, busy)
        return "busy"
    wait = busy.retry_in if countdown is None else min(countdown, busy.retry_in)
    raise task.retry(exc=busy, countdown=max(round(wait), 1), max_retries=max_retries)
