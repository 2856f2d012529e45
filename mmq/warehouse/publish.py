"""Publish the warehouse as ``analytics.duckdb``: a full copy, swapped in with ``os.replace``.

Readers that hold the old file open keep their inode (a consistent, slightly stale copy) and
never block the pipeline; new readers see the new copy. POSIX rename semantics make the swap
atomic: nobody ever opens a half-written file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb

from mmq.warehouse.load import scalar


def publish_copy(conn: duckdb.DuckDBPyConnection, target: Path) -> dict:
    """Copy the database ``conn`` is attached to into ``target`` atomically; returns stats."""
    started = time.perf_counter()
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    for leftover in (temp, Path(f"{temp}.wal")):
        leftover.unlink(missing_ok=True)
    source = scalar(conn, "SELECT current_database()")
    alias = "_publish_snapshot"
    conn.execute(f"ATTACH '{_quote(temp)}' AS {alias}")
    try:
        conn.execute(f'COPY FROM DATABASE "{source}" TO {alias}')
        conn.execute(f"CHECKPOINT {alias}")
    finally:
        conn.execute(f"DETACH {alias}")
    _fsync(temp)
    os.replace(temp, target)
    _fsync(target.parent)
    return {"bytes": target.stat().st_size, "seconds": time.perf_counter() - started}


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


LATEST_LOAD_SQL = "SELECT max(finished_at) FROM loads"


def is_stale(conn: duckdb.DuckDBPyConnection, target: Path) -> bool:
    """Whether ``target`` lacks loads the warehouse ``conn`` has (every write records one)."""
    if not Path(target).exists():
        return True
    latest = scalar(conn, LATEST_LOAD_SQL)
    snapshot = duckdb.connect(str(target), read_only=True)
    try:
        published = scalar(snapshot, LATEST_LOAD_SQL)
    except duckdb.CatalogException:  # a snapshot from before the loads table existed
        return True
    finally:
        snapshot.close()
    return latest != published
