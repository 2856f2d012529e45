"""Bulk, idempotent loading: delete by key, insert an Arrow table, in the caller's transaction.

Re-processing an event, a submission or a whole backfill therefore replaces rows and never
duplicates them. Inserts go through DuckDB's Arrow scan (no row-by-row statements).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import duckdb
import pyarrow as pa

from mmq.warehouse.schema import TABLES

_names = itertools.count()


def replace_rows(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    rows: pa.Table,
    *,
    scope_column: str | Sequence[str],
    scope: Iterable | None = None,
) -> int:
    """Delete the rows of ``table`` whose ``scope_column`` is in ``scope``, then insert ``rows``.

    ``scope`` defaults to the keys present in ``rows``. Several scope columns are matched as a
    tuple. Returns the number of rows inserted.
    """
    columns = [scope_column] if isinstance(scope_column, str) else list(scope_column)
    keys = rows.select(columns) if scope is None else key_table(columns, scope)
    delete_keys(conn, table, keys)
    return insert_arrow(conn, table, rows)


def key_table(columns: Sequence[str], values: Iterable) -> pa.Table:
    """Scope values (scalars for one column, tuples for several) as an Arrow key table."""
    values = list(values)
    if len(columns) == 1:
        return pa.table({columns[0]: values})
    return pa.table({c: [v[i] for v in values] for i, c in enumerate(columns)})


def delete_keys(conn: duckdb.DuckDBPyConnection, table: str, keys: pa.Table) -> None:
    """Delete the rows of ``table`` matching a row of ``keys`` on all its columns (semi-join)."""
    if not keys.num_rows:
        return
    name = f"_scope_{next(_names)}"
    conn.register(name, keys)
    try:
        match = " AND ".join(f"t.{c} = s.{c}" for c in keys.column_names)
        keys_sql = f"(SELECT DISTINCT * FROM {name}) s"
        conn.execute(f"DELETE FROM {table} t USING {keys_sql} WHERE {match}")
    finally:
        conn.unregister(name)


def insert_relation(conn: duckdb.DuckDBPyConnection, table: str, relation: str) -> None:
    """``INSERT … SELECT`` every column of ``table`` from a table, view or registered name."""
    column_list = ", ".join(TABLES[table].column_names)
    conn.execute(f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {relation}")


def insert_arrow(conn: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> int:
    """Insert an Arrow table through DuckDB's Arrow scan; returns the number of rows."""
    if rows.num_rows == 0:
        return 0
    name = f"_rows_{next(_names)}"
    conn.register(name, rows)
    try:
        insert_relation(conn, table, name)
    finally:
        conn.unregister(name)
    return rows.num_rows


def query_dicts(
    conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None
) -> list[dict]:
    """Rows of a query as dicts (small result sets: events of a batch, pending rows)."""
    cursor = conn.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def scalar(conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> object:
    """The single value of a query (fetching every row, so the connection is free again:
    in DuckDB 2.0 an unfinished result keeps its connection busy)."""
    rows = conn.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


def scope_table(conn: duckdb.DuckDBPyConnection, column: str, values: Iterable[str]) -> str:
    """Register ``values`` as a one-column relation usable in SQL; returns its name."""
    name = f"_ids_{next(_names)}"
    conn.register(name, pa.table({column: pa.array(list(values), pa.string())}))
    return name
