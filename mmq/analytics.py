"""Read-only access to ``analytics.duckdb`` for notebooks and ad-hoc analysis.

The pipeline publishes ``analytics.duckdb`` as a snapshot that it swaps in atomically after each
run (``mmq.warehouse.publish``), so readers never block it. An open connection keeps reading the
snapshot it opened: consistent, possibly a run behind. Reconnect to see the newest one.

    from mmq.analytics import connect

    with connect() as db:  # $MMQ_DATA_DIR/analytics.duckdb, read-only
        verdicts = db.query("SELECT verdict, count(*) AS n FROM submission_quality GROUP BY ALL")
        one = db.query("SELECT * FROM submissions WHERE submission_id = ?", [submission_id])

``query`` fetches the whole result into pandas before it returns: DuckDB 2.0 results stream,
and an unfinished one would keep the connection busy. Closing releases the file for good.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import pandas as pd

from mmq.settings import get_settings
from mmq.warehouse.connection import open_duckdb

__all__ = ["Analytics", "AnalyticsNotFound", "analytics_path", "connect"]


class AnalyticsNotFound(FileNotFoundError):
    """``analytics.duckdb`` does not exist yet: nothing has been published there."""


def analytics_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Where ``analytics.duckdb`` is: ``path`` if given, else under ``MMQ_DATA_DIR``.

    A relative data directory (the default is ``data``) is looked up in the current directory
    first, then in the project root (the nearest parent holding ``pyproject.toml``): Jupyter
    starts kernels in the notebook's folder, while the pipeline resolves ``data`` from the root.
    """
    if path is not None:
        return Path(path)
    default = get_settings().analytics_path
    if default.is_absolute() or default.exists():
        return default
    cwd = Path.cwd()
    root = next((d for d in (cwd, *cwd.parents) if (d / "pyproject.toml").is_file()), None)
    if root is not None and (root / default).exists():
        return root / default
    return default


class Analytics:
    """One read-only connection to an analytics snapshot. Close it (or use ``with``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = analytics_path(path).absolute()
        if not self.path.is_file():
            raise AnalyticsNotFound(
                f"run `make demo` (or the pipeline) first: {self.path} not found "
                "(or set MMQ_DATA_DIR to the directory that holds analytics.duckdb)"
            )
        # Only another process opening the file read-write can lock it (the pipeline never
        # does: it replaces the file); give that a short grace period, then fail clearly.
        self._conn: duckdb.DuckDBPyConnection | None = open_duckdb(
            self.path, read_only=True, retry_seconds=10
        )
        # Timestamps in UTC whatever the machine's zone: daily_quality's days are UTC days.
        self._conn.execute("SET TimeZone = 'UTC'")

    def query(
        self, sql: str, params: Sequence[object] | Mapping[str, object] | None = None
    ) -> pd.DataFrame:
        """Run ``sql`` (``?`` or ``$name`` placeholders) and return the whole result."""
        if self._conn is None:
            raise RuntimeError(f"{self!r} is closed: connect() again to query")
        return self._conn.execute(sql, params).df()

    def close(self) -> None:
        """Release the file (idempotent): a writer or a new snapshot can use it again."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def closed(self) -> bool:
        return self._conn is None

    def __enter__(self) -> Analytics:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Analytics({str(self.path)!r}{', closed' if self.closed else ''})"


def connect(path: str | os.PathLike[str] | None = None) -> Analytics:
    """Open ``analytics.duckdb`` read-only (``path``, or the one under ``MMQ_DATA_DIR``)."""
    return Analytics(path)
