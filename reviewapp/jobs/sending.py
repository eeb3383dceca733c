"""Sending a task to the broker: one quick try that never makes a request wait, and never raises.

The work to do is in the database (a queued job, a pending write-back, an export's MLflow step);
its message only wakes a worker up. So a send gets one try, bounded by TASK_SEND_TIMEOUT_SECONDS
for connecting and for each reply, and a failure is a warning: the sweeps send it again once the
broker is back. Celery's own `delay` on a Redis that is down blocked 19 s (publish retries, then
the result backend's reconnect loop) and on one that accepts connections but never answers it
blocked for good.

Sends go through connections of their own, without publish retries and with short socket
timeouts, and carry no result (nothing waits on them), so the result backend is never touched.
"""

import logging
import os
import threading

from celery import current_app
from django.conf import settings
from kombu.connection import Connection

log = logging.getLogger(__name__)

# Senders at once in one process (a web process' threads); more wait for a free one, within the timeout.
CONNECTIONS = 10

_pools: dict[int, object] = {}  # by process: a forked web worker must not share its parent's sockets
_lock = threading.Lock()


def send(task, args=(), **options) -> bool:
    """Send `task` with `args` (apply_async `options` such as countdown); False if it was not sent."""
    try:
        connection = _pool().acquire(block=True, timeout=settings.TASK_SEND_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - every sender is busy: the sweep sends it later
        log.warning("could not send %s%r: %s", task.name, tuple(args), exc)
        return False
    try:
        task.apply_async(args, connection=connection, retry=False, ignore_result=True, **options)
    except Exception as exc:  # noqa: BLE001 - the broker is down or slow; the sweep sends it again
        # Broken, or half-way through a reply: the next send on it connects afresh.
        connection.collect()
        log.warning("could not send %s%r: %s", task.name, tuple(args), exc)
        return False
    finally:
        connection.release()
    return True


def _pool():
    pid = os.getpid()
    pool = _pools.get(pid)
    if pool is None:
        with _lock:
            pool = _pools.get(pid)
            if pool is None:
                pool = _pools[pid] = _connection().Pool(limit=CONNECTIONS)
    return pool


def _connection() -> Connection:
    app = current_app
    timeout = settings.TASK_SEND_TIMEOUT_SECONDS
    options = {
        **(app.conf.broker_transport_options or {}),
        # One connection attempt, bounded, then give up (kombu retries forever by default).
        "max_retries": 0,
        "connect_retries_timeout": timeout,
        # Redis: a server that accepts but never answers fails a send too.
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "retry_on_timeout": False,
    }
    return app.connection_for_write(connect_timeout=timeout, transport_options=options)
