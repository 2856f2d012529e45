"""Writing the report files: atomically, so a browser or a Dagster link never sees half a page.

Each page is written to a hidden temporary file in the same directory and moved over the old one
with ``os.replace`` (atomic on POSIX and Windows within one file system). No ``fsync``: a report
lost in a power cut is rewritten by the next run, and 3,000 fsyncs would dominate a backlog.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

import duckdb

from mmq.reports import data, render

log = logging.getLogger(__name__)

BATCH_SIZE = 500


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary sibling and ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never follow or reuse an existing file; 0o666 & umask, like a normal file
    # (tempfile would create it 0600, unreadable for a web server serving the reports).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def render_submission_report(conn: duckdb.DuckDBPyConnection, submission_id: str) -> str:
    """One submission's report as HTML text; a clear "no data yet" page if it has no quality."""
    report = data.load_submission_reports(conn, [submission_id]).get(submission_id)
    if report is None:
        return render.render_no_data(submission_id)
    return render.render_report(report)


def write_submission_reports(
    conn: duckdb.DuckDBPyConnection, submission_ids: Iterable[str], reports_dir: Path | str
) -> dict[str, Path]:
    """Write ``<reports_dir>/<id>.html`` for every id that has quality data.

    Ids without a ``submission_quality`` row, or that cannot be a file name, are left out of
    the result (and logged) rather than raised, so one odd id never stops a batch.
    """
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    ids = list(dict.fromkeys(submission_ids))
    safe = []
    for sid in ids:
        if render.report_filename(sid) is None:
            log.warning("no report for submission id %r: not usable as a file name", sid)
        else:
            safe.append(sid)
    env = render.environment()
    written: dict[str, Path] = {}
    for start in range(0, len(safe), BATCH_SIZE):
        chunk = safe[start : start + BATCH_SIZE]
        reports = data.load_submission_reports(conn, chunk, chunk_size=BATCH_SIZE)
        for sid in chunk:
            report = reports.get(sid)
            if report is None:
                continue
            path = reports_dir / render.report_filename(sid)
            written[sid] = write_atomic(path, render.render_report(report, env))
    missing = len(safe) - len(written)
    if missing:
        log.info("%d of %d submissions have no quality data yet: no report", missing, len(ids))
    return written


def write_index(conn: duckdb.DuckDBPyConnection, reports_dir: Path | str) -> Path:
    """``<reports_dir>/index.html``: every submission, sortable by score, verdict and date."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    html = render.render_index(data.load_index(conn), data.latest_computed_at(conn))
    return write_atomic(reports_dir / "index.html", html)


def write_daily_digest(conn: duckdb.DuckDBPyConnection, reports_dir: Path | str) -> Path:
    """``<reports_dir>/daily.html``: one row per day and workspace, from ``daily_quality``."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    html = render.render_daily(data.load_daily(conn), data.latest_computed_at(conn))
    return write_atomic(reports_dir / "daily.html", html)
