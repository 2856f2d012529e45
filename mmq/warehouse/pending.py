"""The persistent pending list: fetches that failed stay here, retried with backoff.

A row is keyed by (submission, asset); asset "" stands for the submission status itself. Each
failed attempt pushes ``next_attempt_at`` out exponentially (capped); after ``max_attempts`` the
row is ``given_up`` with its last error; a later success marks either ``resolved``. Nothing is
ever silently dropped: every state is a row analysts and the Dagster UI can see.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa

from mmq.warehouse.fetch import SubmissionFetch, completed_assets
from mmq.warehouse.load import query_dicts, replace_rows, scalar
from mmq.warehouse.schema import PENDING_FETCHES


@dataclass(frozen=True, slots=True)
class Backoff:
    base_seconds: float = 10.0
    cap_seconds: float = 900.0
    max_attempts: int = 8

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.cap_seconds, self.base_seconds * 2 ** (attempts - 1)))


def record_outcomes(
    conn: duckdb.DuckDBPyConnection,
    fetches: Iterable[SubmissionFetch],
    *,
    now: datetime,
    load_id: str,
    backoff: Backoff,
) -> dict[str, int]:
    """Update the pending list from one batch of fetches; returns transitions by kind."""
    fetches = list(fetches)
    ids = [f.submission_id for f in fetches]
    existing = {
        (r["submission_id"], r["asset_id"]): r
        for r in query_dicts(
            conn,
            "SELECT * FROM pending_fetches WHERE submission_id IN (SELECT unnest(?))",
            [ids],
        )
    }
    changed: dict[tuple[str, str], dict] = {}
    counts = {"added": 0, "retried": 0, "resolved": 0, "given_up": 0}
    for fetch in fetches:
        for asset_id, failure in fetch.failures.items():
            key = (fetch.submission_id, asset_id)
            old = existing.get(key)
            attempts = (old["attempts"] if old and old["state"] == "pending" else 0) + 1
            give_up = attempts >= backoff.max_attempts
            counts["given_up" if give_up else ("retried" if attempts > 1 else "added")] += 1
            changed[key] = {
                "submission_id": fetch.submission_id,
                "asset_id": asset_id,
                "state": "given_up" if give_up else "pending",
                "reason": failure.reason,
                "last_error": failure.message[:2000],
                "attempts": attempts,
                "first_seen_at": old["first_seen_at"] if old and attempts > 1 else now,
                "last_attempt_at": now,
                "next_attempt_at": None if give_up else now + backoff.delay(attempts),
                "resolved_at": now if give_up else None,
                "_load_id": load_id,
            }
        done = set(fetch.succeeded)
        status = next((r.body for r in fetch.responses if r.kind == "submission"), None)
        if status is not None:
            complete = set(completed_assets(status))
            # Pending assets that are no longer complete (a retry is processing): nothing to
            # fetch now; their new event will bring them back.
            done |= {a for (s, a) in existing if s == fetch.submission_id and a not in complete}
        for asset_id in done:
            key = (fetch.submission_id, asset_id)
            old = existing.get(key)
            if old is None or key in changed:
                continue
            # A given-up fetch that later succeeds (a backfill, a new event) is resolved too:
            # the data is there now. Only a real success ends it, not "no longer complete".
            given_up_then_fetched = old["state"] == "given_up" and asset_id in fetch.succeeded
            if old["state"] != "pending" and not given_up_then_fetched:
                continue
            counts["resolved"] += 1
            changed[key] = {**old, "state": "resolved", "resolved_at": now, "_load_id": load_id}
    if changed:
        rows = pa.Table.from_pylist(list(changed.values()), schema=PENDING_FETCHES.arrow_schema())
        replace_rows(conn, "pending_fetches", rows, scope_column=("submission_id", "asset_id"))
    return counts


def due_submissions(conn: duckdb.DuckDBPyConnection, now: datetime, limit: int) -> list[str]:
    """Submissions with a pending fetch whose backoff has elapsed, most overdue first."""
    rows = conn.execute(
        """
        SELECT submission_id FROM pending_fetches
        WHERE state = 'pending' AND next_attempt_at <= ?
        GROUP BY submission_id ORDER BY min(next_attempt_at) LIMIT ?
        """,
        [now, limit],
    ).fetchall()
    return [r[0] for r in rows]


def summary(conn: duckdb.DuckDBPyConnection, now: datetime, limit: int = 200) -> dict:
    """What the UI shows and the sensor reads: counts, oldest age, next due submissions."""
    counts = dict(
        conn.execute("SELECT state, count(*) FROM pending_fetches GROUP BY state").fetchall()
    )
    oldest = scalar(conn, "SELECT min(first_seen_at) FROM pending_fetches WHERE state = 'pending'")
    upcoming = query_dicts(
        conn,
        """
        SELECT submission_id, min(next_attempt_at) AS next_attempt_at, count(*) AS assets,
               any_value(reason) AS reason, max(attempts) AS attempts
        FROM pending_fetches WHERE state = 'pending'
        GROUP BY submission_id ORDER BY next_attempt_at LIMIT ?
        """,
        [limit],
    )
    return {
        "pending": counts.get("pending", 0),
        "resolved": counts.get("resolved", 0),
        "given_up": counts.get("given_up", 0),
        "oldest_pending_seconds": (now - oldest).total_seconds() if oldest else 0.0,
        "upcoming": upcoming,
    }
