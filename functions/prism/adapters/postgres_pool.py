"""A small psycopg connection pool for the request/response functions (chat, query).

Connections are in autocommit with dict rows: every store method is one statement, one round
trip. The pool opens on first use (Lambda: at the first request, not at import). Driver errors
become Prism's: a value the database cannot hold (a NUL character, an out-of-range number) is the
request's fault (422); anything else is "cannot reach the database" (503).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from prism.errors import PrismError, StoreError, ValidationFailedError

Connection = psycopg.Connection[dict[str, Any]]


def columns(*names: str) -> sql.Composable:
    """A column list, each name quoted as an identifier."""
    return sql.SQL(", ").join(map(sql.Identifier, names))


def first_line(exc: BaseException) -> str:
    """The driver's message without its DETAIL/CONTEXT lines, which may quote the values sent."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


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
    ) -> None:
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            dsn,
            connection_class=Connection,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            open=False,
            kwargs={"row_factory": dict_row, "autocommit": True},
            configure=configure,
            name=name,
        )
        self._opened = False

    def open(self) -> None:
        if not self._opened:
            self._pool.open(wait=False)
            self._opened = True

    def close(self) -> None:
        if self._opened:
            self._pool.close()
            self._opened = False

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
