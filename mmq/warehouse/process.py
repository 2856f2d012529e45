"""Processing a set of submissions, end to end: the one chain both Dagster paths run.

The sensor's ingest run calls the stages one asset at a time (so the UI shows each table);
a UI backfill of report partitions calls :func:`process_submissions` in one step. Either way
the same functions fetch, flatten, check, score and write reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from mmq.warehouse import checks, quality, steps
from mmq.warehouse.connection import transaction
from mmq.warehouse.load import query_dicts
from mmq.warehouse.pending import Backoff

# What a report's UI metadata summarises, per submission (from ``submission_quality``).
SUMMARY_SQL = """
SELECT submission_id, score, verdict, status, asset_count, assets_completed, assets_failed,
       issue_count, open_count, open_critical, open_major, open_minor, critical_count,
       major_count, minor_count, info_count, topic_count, orphan_count, top_rule_codes,
       processing_latency_seconds
FROM submission_quality WHERE submission_id IN (SELECT unnest(?))
"""


def touched_submissions(
    conn: duckdb.DuckDBPyConnection,
    after_seq: int,
    until_seq: int,
    retries: Iterable[str] = (),
) -> list[str]:
    """The submissions a run works on: those of its landed (processed) events of the feed range
    ``after_seq < seq <= until_seq``, in feed order, then the given retries.

    Read back from ``webhook_events`` so every asset of a run derives the same set from the
    warehouse and its run config, with nothing passed through an IO manager.
    """
    rows = conn.execute(
        """
        SELECT submission_id FROM webhook_events
        WHERE handling = 'processed' AND submission_id IS NOT NULL AND seq > ? AND seq <= ?
        GROUP BY submission_id ORDER BY min(seq)
        """,
        [after_seq, until_seq],
    ).fetchall()
    return list(dict.fromkeys([*(r[0] for r in rows), *retries]))


@dataclass
class QualityReport:
    written: int  # submissions with a status (the others are still pending)
    verdicts: dict[str, int]


def score_submissions(
    conn: duckdb.DuckDBPyConnection,
    submission_ids: list[str],
    *,
    weights: quality.ScoreWeights,
    load_id: str,
    run_id: str | None = None,
    now: datetime | None = None,
) -> QualityReport:
    """Recompute ``submission_quality`` for these submissions (one transaction, one load row)."""
    started = now or datetime.now(UTC)
    with transaction(conn):
        written = quality.compute_submission_quality(
            conn, submission_ids, weights=weights, now=started, load_id=load_id
        )
        steps.record_load(
            conn,
            load_id=load_id,
            step="submission_quality",
            started_at=started,
            run_id=run_id,
            submissions=written,
            row_counts={"submission_quality": written},
        )
    return QualityReport(written, quality.verdict_counts(conn, submission_ids))


@dataclass
class ProcessReport:
    submission_ids: list[str]
    fetch: steps.FetchReport
    table_counts: dict[str, int]
    check_outcomes: list[checks.CheckOutcome]
    quality: QualityReport


def process_submissions(
    conn: duckdb.DuckDBPyConnection,
    client_factory,
    submission_ids: Iterable[str],
    *,
    load_id: str,
    backoff: Backoff,
    weights: quality.ScoreWeights,
    run_id: str | None = None,
    log: Callable[[str], None] | None = None,
) -> ProcessReport:
    """Re-fetch, re-flatten, check and score these submissions in the warehouse.

    Publishing and reports follow (:func:`write_reports` reads the published copy).
    """
    ids = list(dict.fromkeys(submission_ids))
    fetched = steps.fetch_raw(
        conn, client_factory, ids, load_id=load_id, backoff=backoff, run_id=run_id, log=log
    )
    counts = steps.rebuild_tables(conn, ids, load_id=load_id, run_id=run_id)
    outcomes = checks.run_checks(conn, ids)
    scored = score_submissions(conn, ids, weights=weights, load_id=load_id, run_id=run_id)
    return ProcessReport(ids, fetched, counts, outcomes, scored)


@dataclass
class ReportsWritten:
    written: dict[str, Path]  # submission id → its HTML file
    index: Path
    summaries: dict[str, dict]  # submission id → its SUMMARY_SQL row (absent: no status yet)


def write_reports(
    analytics: duckdb.DuckDBPyConnection, submission_ids: list[str], reports_dir: Path
) -> ReportsWritten:
    """Write these submissions' HTML reports and the index, from the published snapshot."""
    from mmq.reports import write_index, write_submission_reports  # jinja: only when needed

    written = write_submission_reports(analytics, submission_ids, reports_dir)
    index = write_index(analytics, reports_dir)
    rows = query_dicts(analytics, SUMMARY_SQL, [submission_ids])
    return ReportsWritten(dict(written), index, {r["submission_id"]: r for r in rows})
