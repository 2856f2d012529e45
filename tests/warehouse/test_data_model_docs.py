"""docs/data-model.md documents every column of every table, with the type the DDL creates.

Real DuckDB: the columns are read back from freshly created databases (warehouse and landing),
so a column added to the code without its documentation fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from mmq.warehouse.schema import create_all
from receiver.writer import DDL as LANDING_DDL

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"
ROW = re.compile(r"^\| `(?P<name>[a-z_0-9]+)` \| (?P<type>[A-Z0-9_\[\](), ]+) \|")


def documented_columns(table: str) -> dict[str, str]:
    """``{column: type}`` from the Markdown table under the heading that names ``table``."""
    text = DOC.read_text(encoding="utf-8")
    heading = re.search(rf"^#+ `{table}`.*$", text, flags=re.MULTILINE)
    assert heading, f"docs/data-model.md has no section for table {table}"
    section = re.split(r"^#+ ", text[heading.end() :], maxsplit=1, flags=re.MULTILINE)[0]
    return {m["name"]: m["type"].strip() for line in section.splitlines() if (m := ROW.match(line))}


def actual_columns(conn: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    rows = conn.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main'"
    ).fetchall()
    tables: dict[str, dict[str, str]] = {}
    for table, column, type_ in rows:
        tables.setdefault(table, {})[column] = type_
    return tables


def normalise(type_: str) -> str:
    # DuckDB spells TIMESTAMPTZ as "TIMESTAMP WITH TIME ZONE" in information_schema.
    return type_.replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ").replace(" ", "")


def warehouse_tables(tmp_path) -> dict[str, dict[str, str]]:
    conn = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        create_all(conn)
        return actual_columns(conn)
    finally:
        conn.close()


def landing_tables(tmp_path) -> dict[str, dict[str, str]]:
    conn = duckdb.connect(str(tmp_path / "landing.duckdb"))
    try:
        conn.execute(LANDING_DDL)  # what the receiver runs when it opens its file
        return actual_columns(conn)
    finally:
        conn.close()


@pytest.mark.parametrize("tables", [warehouse_tables, landing_tables])
def test_every_column_is_documented_with_its_type(tables, tmp_path):
    found = tables(tmp_path)
    assert found, "no tables were created"
    for table, columns in found.items():
        documented = documented_columns(table)
        missing = sorted(set(columns) - set(documented))
        assert not missing, f"{table}: columns not in docs/data-model.md: {missing}"
        stale = sorted(set(documented) - set(columns))
        assert not stale, f"{table}: documented but not in the table: {stale}"
        wrong = {
            c: (documented[c], t)
            for c, t in columns.items()
            if normalise(documented[c]) != normalise(t)
        }
        assert not wrong, f"{table}: documented type differs from the DDL: {wrong}"
