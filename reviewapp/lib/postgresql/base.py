"""Django's PostgreSQL backend whose health check costs no round trip.

With health checks on, Django runs `SELECT 1` on a kept connection before the first query of
each request: a whole round trip, as dear as one of the few queries an API call makes. Here the
connection answers from what the client already knows: libpq's own state, the transaction's
state (a broken transaction, as `SELECT 1` would find, is not usable), and the socket. An idle
connection has nothing to read, so a readable socket means the server closed it or is saying
something (a termination notice, most often): only then is the server asked, Django's way.
"""

import select

from django.db.backends.postgresql import base
from django.db.backends.postgresql.psycopg_any import is_psycopg3


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        if self.connection is None:
            return False
        if not is_psycopg3:
            return super().is_usable()
        from psycopg.pq import ConnStatus, TransactionStatus

        pgconn = self.connection.pgconn
        if pgconn.status != ConnStatus.OK:
            return False
        # IDLE, or INTRANS inside a transaction that has not failed; not INERROR (aborted: every
        # statement is refused until a rollback), ACTIVE (a query still running) or UNKNOWN.
        if pgconn.transaction_status not in (TransactionStatus.IDLE, TransactionStatus.INTRANS):
            return False
        poller = select.poll()
        poller.register(pgconn.socket, select.POLLIN | select.POLLPRI)
        if not poller.poll(0):
            return True
        return super().is_usable()
