"""Django's PostgreSQL backend with a health check that costs no round trip while the connection is idle.

With CONN_HEALTH_CHECKS, Django checks a persistent connection at the start of every request that uses
it; its PostgreSQL backend does that with `SELECT 1`, one round trip per request before any real work.
An idle connection has nothing to read, so this backend first asks the kernel (a `poll` with no
timeout) whether the server has sent anything: when PostgreSQL closes a session — a restart or crash,
`pg_terminate_backend`, `idle_session_timeout`, a pooler dropping it — it sends its FATAL message or
end-of-file, and the socket turns readable. Only then, or when the connection is not idle, does it fall
back to Django's `SELECT 1`. A connection psycopg already knows to be closed or broken is unusable at
once. (Go's MySQL driver checks pooled connections the same way.)

What neither check can see is a peer that vanished without a word (a network partition): `SELECT 1`
would wait for TCP to give up, and the first real statement fails instead, as it would after any check.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base as postgresql
from psycopg import pq

_READABLE_OR_HUNG_UP = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP | select.POLLNVAL


def server_has_spoken(fd: int) -> bool:
    """Whether anything (data, end-of-file or an error) is waiting on the socket `fd`, without waiting."""
    poller = select.poll()
    poller.register(fd, _READABLE_OR_HUNG_UP)
    return bool(poller.poll(0))


class DatabaseWrapper(postgresql.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        pgconn = connection.pgconn
        if pgconn.status != pq.ConnStatus.OK:
            return False
        if pgconn.transaction_status != pq.TransactionStatus.IDLE:
            return super().is_usable()
        try:
            spoken = server_has_spoken(pgconn.socket)
        except (OSError, ValueError):
            return False
        return super().is_usable() if spoken else True
