"""Every migration parses as PostgreSQL (libpg_query via pglast), including the TimescaleDB profile
that this machine cannot run, and both profiles define the same tables and columns for readers."""

from __future__ import annotations

import re
from pathlib import Path

import pglast
import pytest
import sqlparse

MIGRATIONS = Path(__file__).resolve().parents[3] / "functions" / "prism" / "migrations"


@pytest.mark.parametrize("path", sorted(MIGRATIONS.glob("*.sql")), ids=lambda p: p.name)
def test_migration_parses(path: Path) -> None:
    statements = pglast.parse_sql(path.read_text())
    assert statements


def _columns(sql: str, table: str) -> list[str]:
    body = re.search(rf"CREATE TABLE {table} \((.*?)\n\)", sql, re.S)
    assert body, table
    return [
        line.split()[0]
        for line in body.group(1).splitlines()
        if line.strip() and not line.strip().startswith(("PRIMARY", "--"))
    ]


def test_profiles_define_the_same_columns() -> None:
    plain = (MIGRATIONS / "002_logs.postgres.sql").read_text()
    timescale = (MIGRATIONS / "002_logs.timescale.sql").read_text()
    for table in ("inference_logs", "tool_invocations"):
        assert _columns(plain, table) == _columns(timescale, table)
    rollup = _columns(plain, "metrics_minute")
    aggregate = re.search(r"AS\nSELECT(.*?)FROM inference_logs", timescale, re.S)
    assert aggregate
    names = re.findall(r"AS (\w+)|^\s+(\w+),?$", aggregate.group(1), re.M)
    assert [a or b for a, b in names] == rollup


def test_no_transaction_files_split_into_single_statements() -> None:
    text = (MIGRATIONS / "002_logs.timescale.sql").read_text()
    statements = [s for s in sqlparse.split(text) if sqlparse.format(s, strip_comments=True).strip()]
    assert len(statements) == len(pglast.parse_sql(text))
    assert any(s.lstrip().startswith("CREATE MATERIALIZED VIEW") or "CREATE MATERIALIZED VIEW" in s for s in statements)
