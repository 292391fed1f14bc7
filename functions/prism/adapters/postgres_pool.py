"""A small psycopg connection pool for the request/response functions (chat, query).

Connections are in autocommit with dict rows: every store method is one statement, one round
trip. The pool opens on first use (Lambda: at the first request, not at import). Driver errors
become Prism's: a value the database cannot hold (a NUL character, an out-of-range number) is the
request's fault (422); anything else is "cannot reach the database" (503).

A restart of PostgreSQL costs no request once it is back: every connection is checked when it
leaves the pool (:func:`check_alive`, free while it is healthy), a dead one is replaced before any
statement is sent on it, and the pool keeps trying to reconnect at most 2 s apart (psycopg_pool
would otherwise back off up to twice the outage: a minute down, a minute more of 503s).

Behind RDS Proxy: no statement is ever prepared on the server (``prepare_threshold=None``), so the
proxy never pins a client to one database connection. A DSN read from a secret (prism.secrets) is
resolved again for each new connection, and a refused password drops it from the secret cache, so a
rotated password reaches the pool within one reconnect.
"""

from __future__ import annotations

import select
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from prism import secrets
from prism.errors import PrismError, StoreError, ValidationFailedError


class Connection(psycopg.Connection[dict[str, Any]]):
    """A pooled connection; a refused password makes the secret it came from be read again."""

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
        try:
            return super().connect(conninfo, **kwargs)
        except psycopg.OperationalError as exc:
            if secrets.is_auth_failure(exc):
                secrets.default_cache().forget_dsn(conninfo)
            raise


def columns(*names: str) -> sql.Composable:
    """A column list, each name quoted as an identifier."""
    return sql.SQL(", ").join(map(sql.Identifier, names))


def first_line(exc: BaseException) -> str:
    """The driver's message without its DETAIL/CONTEXT lines, which may quote the values sent."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def check_alive(conn: psycopg.Connection[Any]) -> None:
    """Raise ``psycopg.OperationalError`` if ``conn``, idle, can no longer be used; no round trip while
    it can.

    An idle connection has nothing to read. When its socket is readable anyway, the server has sent
    something unprompted: nearly always the FATAL of a backend going away ("terminating connection
    due to administrator command" when PostgreSQL stops or restarts, an idle-session timeout) or the
    end of the stream. Only then is it tested with an empty query (``check_connection``), which
    raises if it is dead. A check per use that costs nothing keeps the chat's critical path at one
    round trip per statement.
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)  # POLLHUP and POLLERR come anyway
    if poller.poll(0):
        ConnectionPool.check_connection(conn)


class PooledPostgres:
    def __init__(
        self,
        dsn: str,
        *,
        name: str,
        configure: Callable[[Connection], None] | None = None,
        min_size: int = 1,
        max_size: int = 4,
        timeout: float = 10.0,
        reconnect_timeout: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            self._conninfo,
            connection_class=Connection,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            open=False,
            # prepare_threshold=None: no server-side prepared statements (RDS Proxy would pin them)
            kwargs={"row_factory": dict_row, "autocommit": True, "prepare_threshold": None},
            configure=configure,
            check=self._check,
            # psycopg_pool retries a lost connection 1, 2, 4, 8 ... s apart until this runs out, then
            # gives the slot up; the next request opens a new one at once. 5 s keeps every retry within
            # 2 s of the last, so a request made once PostgreSQL is back waits 2 s at most, not a
            # backoff grown over the whole outage (and longer than ``timeout``).
            reconnect_timeout=reconnect_timeout,
            name=name,
        )
        self._opened = False

    def _conninfo(self) -> str:
        """The DSN for the next connection (a secret's current value, when it came from one)."""
        return secrets.default_cache().current_dsn(self._dsn)

    def open(self) -> None:
        if not self._opened:
            self._pool.open(wait=False)
            self._opened = True

    def close(self) -> None:
        if self._opened:
            self._pool.close()
            self._opened = False

    def _check(self, conn: Connection) -> None:
        """The pool's check of each connection it hands out."""
        try:
            check_alive(conn)
        except psycopg.Error:
            # The connections idle beside it most likely died the same way (a restart ends them all):
            # test them now, so this request is not handed them one by one, with a growing pause
            # between each (the pool's backoff), and they are replaced at once.
            self._pool.check()
            raise

    @contextmanager
    def _conn(self) -> Iterator[Connection]:
        self.open()
        try:
            with self._pool.connection() as conn:
                yield conn
        except PrismError:
            raise
        except PoolTimeout as exc:
            raise StoreError("PostgreSQL unreachable: no connection available") from exc
        except psycopg.DataError as exc:
            raise ValidationFailedError(f"a value cannot be used: {first_line(exc)}", code="invalid_value") from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL: {type(exc).__name__}: {first_line(exc)}") from exc

    def ping(self) -> None:
        with self._conn() as conn:
            conn.execute("SELECT 1")
