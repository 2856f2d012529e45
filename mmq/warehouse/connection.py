"""Opening DuckDB files: one place for lock retries, read-only access and closing.

DuckDB lets one process write a file, and a writer shuts out readers in other processes (see
``shared/notes/dagster-and-duckdb.md``). A lock conflict is usually brief (a publish, a run
finishing), so opens retry with jittered backoff for a bounded time; the connection is always
closed in ``finally`` so an exception never leaves the file locked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_random_exponential,
)


class WarehouseLocked(RuntimeError):
    """The file stayed locked by another process for the whole retry window."""


def is_lock_error(error: BaseException) -> bool:
    return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()


def open_duckdb(
    path: Path | str,
    *,
    read_only: bool = False,
    retry_seconds: float = 60.0,
    config: dict | None = None,
) -> duckdb.DuckDBPyConnection:
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise FileNotFoundError(f"{path} does not exist yet (has the pipeline published it?)")
    retrying = Retrying(
        retry=retry_if_exception(is_lock_error),
        wait=wait_random_exponential(multiplier=0.05, max=2.0),
        stop=stop_after_delay(retry_seconds),
        reraise=True,
    )
    try:
        return retrying(duckdb.connect, str(path), read_only=read_only, config=config or {})
    except duckdb.IOException as error:
        if is_lock_error(error):
            raise WarehouseLocked(
                f"{path} stayed locked by another process for {retry_seconds:.0f}s: {error}"
            ) from None
        raise


@contextmanager
def connected(path: Path | str, **options) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = open_duckdb(path, **options)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN … COMMIT, rolled back on any error (the caller sees the original exception)."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
