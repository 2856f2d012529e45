"""The pipeline's steps as plain functions over a warehouse connection (Dagster assets call them).

1. :func:`land_events` — feed events → ``webhook_events``;
2. :func:`fetch_raw` — API → ``api_responses`` (+ the pending list);
3. :func:`rebuild_tables` — ``api_responses`` + events → the flattened tables;
4. :func:`quality.compute_submission_quality` / :func:`quality.compute_daily_quality`.
Each step writes in one transaction and records itself in ``loads``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa

from mmq.client import AsyncMediaMagicClient
from mmq.warehouse import flatten, flatten_sql
from mmq.warehouse.connection import transaction
from mmq.warehouse.fetch import Response, SubmissionFetch, fetch_submissions
from mmq.warehouse.load import (
    delete_keys,
    insert_arrow,
    key_table,
    query_dicts,
    replace_rows,
    scope_table,
)
from mmq.warehouse.pending import Backoff, record_outcomes
from mmq.warehouse.schema import API_RESPONSES, LOADS, RECEIVER_STATS, create_all

# A 404 on results within this long after the completed event means "not published yet".
NOT_READY_WINDOW = timedelta(minutes=10)


def new_load_id(run_id: str | None = None, now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{moment}-{(run_id or secrets.token_hex(4))[:8]}"


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    create_all(conn)


def record_load(
    conn: duckdb.DuckDBPyConnection,
    *,
    load_id: str,
    step: str,
    started_at: datetime,
    run_id: str | None,
    submissions: int,
    row_counts: dict[str, int],
) -> None:
    row = {
        "load_id": load_id,
        "run_id": run_id,
        "step": step,
        "started_at": started_at,
        "finished_at": datetime.now(UTC),
        "submissions": submissions,
        "row_counts": json.dumps(row_counts, sort_keys=True),
    }
    table = pa.Table.from_pylist([row], schema=LOADS.arrow_schema())
    replace_rows(conn, "loads", table, scope_column=("load_id", "step"))


# --- 1. events ------------------------------------------------------------------------------
@dataclass
class LandedEvents:
    count: int
    by_handling: dict[str, int]
    submission_ids: list[str]  # in first-seen order, processed events only
    first_seq: int | None
    last_seq: int | None


def land_events(
    conn: duckdb.DuckDBPyConnection,
    feed_events: list[dict],
    *,
    load_id: str,
    run_id: str | None = None,
) -> LandedEvents:
    """Upsert feed events into ``webhook_events`` (by event id: re-landing is harmless)."""
    started = datetime.now(UTC)
    rows = flatten.Rows(["webhook_events"])
    for event in feed_events:
        flatten.flatten_event(rows, event, load_id)
    columns = rows.columns["webhook_events"]
    by_handling: dict[str, int] = defaultdict(int)
    submission_ids: dict[str, None] = {}
    for handling, sid in zip(columns["handling"], columns["submission_id"], strict=True):
        by_handling[handling] += 1
        if handling == "processed":
            submission_ids.setdefault(sid, None)
    with transaction(conn):
        count = replace_rows(
            conn, "webhook_events", rows.arrow("webhook_events"), scope_column="event_id"
        )
        record_load(
            conn,
            load_id=load_id,
            step="webhook_events",
            started_at=started,
            run_id=run_id,
            submissions=len(submission_ids),
            row_counts={"webhook_events": count},
        )
    seqs = columns["seq"]
    return LandedEvents(
        count,
        dict(by_handling),
        list(submission_ids),
        min(seqs) if seqs else None,
        max(seqs) if seqs else None,
    )


RECEIVER_COUNTERS = {
    "accepted": "mmq_receiver_events_accepted_total",
    "duplicates": "mmq_receiver_events_duplicate_total",
    "unparseable": "mmq_receiver_events_unparseable_total",
    "oldest_unfed_seconds": "mmq_receiver_oldest_unfed_event_age_seconds",
}


def land_receiver_stats(
    conn: duckdb.DuckDBPyConnection,
    samples: dict[str, object],
    *,
    receiver_url: str,
    latest_seq: int | None,
    load_id: str,
) -> None:
    """One ``receiver_stats`` row from a scrape of the receiver's ``/metrics``."""
    row = {name: samples.get(metric) for name, metric in RECEIVER_COUNTERS.items()}
    rejected = samples.get("mmq_receiver_requests_rejected_total")
    row.update(
        scraped_at=datetime.now(UTC),
        receiver_url=receiver_url,
        rejected=json.dumps(rejected, sort_keys=True) if isinstance(rejected, dict) else None,
        latest_seq=latest_seq,
        _load_id=load_id,
    )
    for name in ("accepted", "duplicates", "unparseable"):
        row[name] = int(row[name]) if isinstance(row[name], float) else None
    table = pa.Table.from_pylist([row], schema=RECEIVER_STATS.arrow_schema())
    replace_rows(conn, "receiver_stats", table, scope_column="scraped_at")


# --- 2. fetch -------------------------------------------------------------------------------
@dataclass
class FetchReport:
    submissions: int = 0
    responses: int = 0
    failures_by_reason: dict[str, int] = field(default_factory=dict)
    pending_transitions: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def recently_completed_assets(
    conn: duckdb.DuckDBPyConnection, submission_ids: list[str], now: datetime
) -> set[str]:
    scope = scope_table(conn, "submission_id", submission_ids)
    try:
        rows = conn.execute(
            f"""
            SELECT DISTINCT asset_id FROM webhook_events
            WHERE handling = 'processed' AND status = 'completed'
              AND submission_id IN (SELECT submission_id FROM {scope})
              AND coalesce(event_timestamp, received_at) >= ?
            """,
            [now - NOT_READY_WINDOW],
        ).fetchall()
    finally:
        conn.unregister(scope)
    return {r[0] for r in rows}


def fetch_raw(
    conn: duckdb.DuckDBPyConnection,
    client_factory,
    submission_ids: Iterable[str],
    *,
    load_id: str,
    backoff: Backoff,
    run_id: str | None = None,
    log=None,
) -> FetchReport:
    """Fetch status, issues and topics of ``submission_ids`` and land the raw responses.

    ``client_factory`` returns an :class:`AsyncMediaMagicClient` (created inside the event
    loop that uses it). Failed fetches go to the pending list, successes resolve it.
    """
    ids = list(dict.fromkeys(submission_ids))
    started = datetime.now(UTC)
    recent = recently_completed_assets(conn, ids, started) if ids else set()
    fetches = asyncio.run(_fetch_all(client_factory, ids, recent, log))
    table = responses_table([r for f in fetches for r in f.responses], load_id)
    failures: dict[str, int] = defaultdict(int)
    for fetch in fetches:
        for failure in fetch.failures.values():
            failures[failure.reason] += 1
    with transaction(conn):
        written = replace_rows(
            conn,
            "api_responses",
            table,
            scope_column=("kind", "submission_id", "asset_id"),
        )
        transitions = record_outcomes(
            conn, fetches, now=datetime.now(UTC), load_id=load_id, backoff=backoff
        )
        record_load(
            conn,
            load_id=load_id,
            step="api_responses",
            started_at=started,
            run_id=run_id,
            submissions=len(ids),
            row_counts={"api_responses": written},
        )
    return FetchReport(
        submissions=len(ids),
        responses=written,
        failures_by_reason=dict(failures),
        pending_transitions=transitions,
        seconds=(datetime.now(UTC) - started).total_seconds(),
    )


def responses_table(responses: list[Response], load_id: str) -> pa.Table:
    """Raw responses → one ``api_responses`` Arrow table, built column by column."""
    compact = json.JSONEncoder(separators=(",", ":")).encode
    return pa.table(
        {
            "kind": [r.kind for r in responses],
            "submission_id": [r.submission_id for r in responses],
            "asset_id": [r.asset_id for r in responses],
            "status_code": [r.status_code for r in responses],
            "body": [compact(r.body) for r in responses],
            "fetched_at": [r.fetched_at for r in responses],
            "_load_id": [load_id] * len(responses),
        },
        schema=API_RESPONSES.arrow_schema(),
    )


async def _fetch_all(client_factory, ids, recent, log) -> list[SubmissionFetch]:
    client: AsyncMediaMagicClient = client_factory()
    done = 0
    step = max(1, len(ids) // 10)

    def progress(_fetch: SubmissionFetch) -> None:
        nonlocal done
        done += 1
        if log is not None and (done % step == 0 or done == len(ids)):
            log(f"fetched {done}/{len(ids)} submissions")

    try:
        return await fetch_submissions(client, ids, recently_completed=recent, on_done=progress)
    finally:
        await client.aclose()


class PhaseClock:
    """Adds the seconds since the previous lap to ``timings[phase]`` (no-op without a dict)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, phase: str) -> None:
        if self.timings is None:
            return
        now = time.perf_counter()
        self.timings[phase] = self.timings.get(phase, 0.0) + now - self.last
        self.last = now


# --- 3. flatten -----------------------------------------------------------------------------
CHILD_TABLES_BY_SUBMISSION = ("submissions", "assets", "asset_failures")
CHILD_TABLES_BY_ASSET = ("issues", "issue_precedents", "topics", "topic_issues")


def rebuild_tables(
    conn: duckdb.DuckDBPyConnection,
    submission_ids: Iterable[str],
    *,
    load_id: str,
    run_id: str | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, int]:
    """Re-flatten these submissions from their latest raw responses; returns rows per table.

    A submission without a landed status keeps its old rows; so does an asset whose results
    were never fetched (their fetch is on the pending list). Issues and topics are flattened
    by DuckDB where the raw bodies lie (``flatten_sql``); odd bodies, the statuses and the
    events go through the reference flatten in Python. ``timings`` (if given) receives the
    seconds spent per phase.
    """
    ids = list(dict.fromkeys(submission_ids))
    started = datetime.now(UTC)
    clock = PhaseClock(timings)
    scope = scope_table(conn, "submission_id", ids)
    try:
        raw_statuses = conn.execute(
            f"""
            SELECT submission_id, body, fetched_at FROM api_responses
            WHERE kind = 'submission' AND submission_id IN (SELECT submission_id FROM {scope})
            """
        ).fetchall()
        events = query_dicts(
            conn,
            f"""
            SELECT event_id, seq, asset_id, submission_id, status, filename, issue_count,
                   error_message, event_timestamp
            FROM webhook_events
            WHERE handling = 'processed' AND submission_id IN (SELECT submission_id FROM {scope})
            """,
        )
        pending = conn.execute(
            f"""
            SELECT asset_id FROM pending_fetches
            WHERE state = 'pending' AND submission_id IN (SELECT submission_id FROM {scope})
            """
        ).fetchall()
    finally:
        conn.unregister(scope)
    clock.lap("read")
    staged = flatten_sql.stage_results(conn, ids, load_id=load_id)
    clock.lap("sql_parse_flatten")
    return _replace_flattened(
        conn,
        staged,
        raw_statuses,
        events,
        {r[0] for r in pending},
        load_id=load_id,
        run_id=run_id,
        started=started,
        clock=clock,
    )


def _replace_flattened(
    conn, staged, raw_statuses, events, pending_assets, *, load_id, run_id, started, clock
) -> dict[str, int]:
    odd_bodies: dict[tuple[str, str], dict[str, dict]] = defaultdict(dict)
    for kind, sid, aid, body in staged.python_bodies:
        odd_bodies[(sid, aid)][kind] = json.loads(body)
    statuses = {sid: (json.loads(body), fetched_at) for sid, body, fetched_at in raw_statuses}
    events_by_asset: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        events_by_asset[event["asset_id"]].append(event)
    clock.lap("json_parse")

    rows = flatten.Rows()
    fetched_assets = [aid for _sid, aid, _n in staged.fetched]
    issue_counts = {aid: n for _sid, aid, n in staged.fetched}
    for (sid, aid), bodies in odd_bodies.items():
        if "issues" not in bodies or "topics" not in bodies:
            continue
        membership = flatten.topic_membership(bodies["topics"])
        issue_counts[aid] = flatten.flatten_issues(
            rows,
            bodies["issues"],
            submission_id=sid,
            asset_id=aid,
            membership=membership,
            load_id=load_id,
        )
        flatten.flatten_topics(
            rows, bodies["topics"], submission_id=sid, asset_id=aid, load_id=load_id
        )
        fetched_assets.append(aid)
    state = {aid: "pending" for aid in pending_assets} | {aid: "fetched" for aid in fetched_assets}
    for status, fetched_at in statuses.values():
        flatten.flatten_submission(
            rows,
            status,
            fetched_at=fetched_at,
            load_id=load_id,
            events_by_asset=events_by_asset,
            results_state=state,
            fetched_issue_counts=issue_counts,
        )
    clock.lap("flatten")
    arrow = {table: rows.arrow(table) for table in rows.columns}
    submission_keys = key_table(["submission_id"], statuses)
    asset_keys = key_table(["asset_id"], fetched_assets)
    clock.lap("arrow_build")
    counts: dict[str, int] = {}
    with transaction(conn):
        for table in CHILD_TABLES_BY_SUBMISSION:
            delete_keys(conn, table, submission_keys)
        for table in CHILD_TABLES_BY_ASSET:
            delete_keys(conn, table, asset_keys)
        clock.lap("delete")
        for table in CHILD_TABLES_BY_SUBMISSION:
            counts[table] = insert_arrow(conn, table, arrow[table])
        for table in CHILD_TABLES_BY_ASSET:
            fast = insert_arrow(conn, table, staged.tables[table])
            counts[table] = fast + insert_arrow(conn, table, arrow[table])
        clock.lap("insert")
        record_load(
            conn,
            load_id=load_id,
            step="tables",
            started_at=started,
            run_id=run_id,
            submissions=len(statuses),
            row_counts=counts,
        )
    clock.lap("commit")
    return counts
