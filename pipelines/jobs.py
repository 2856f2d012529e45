"""Jobs: the sensor's ingest job, the report backfill job and the daily reporting job (each in
one process per run)."""

import dagster as dg

from pipelines.assets import (
    analytics_snapshot,
    api_responses,
    daily_digest,
    daily_quality,
    pending_fetches,
    quality_reports,
    submission_quality,
    submission_report,
    submission_tables,
    webhook_events,
)

# One process per run: DuckDB steps share it (no subprocess per step, no re-import per step).
ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.assets(
        webhook_events,
        api_responses,
        submission_tables,
        pending_fetches,
        submission_quality,
        analytics_snapshot,
        quality_reports,
    ),
    executor_def=dg.in_process_executor,
    description="Land a feed range of webhook events, fetch and flatten their submissions (and "
    "due retries), score them, publish analytics.duckdb and write their reports (launched by "
    "the sensor; unpartitioned, driven by run config).",
)

# The ops of ingest_job that read the run's scope (IngestScope) from run config.
SCOPED_OPS = (
    "webhook_events",
    "api_responses",
    "submission_tables",
    "submission_quality",
    "quality_reports",
)


def ingest_run_config(
    after_seq: int,
    until_seq: int,
    retry_submissions: list[str],
    ops: tuple[str, ...] = SCOPED_OPS,
) -> dict:
    """Run config of an ingest run: every scoped op (of those selected) gets the same feed
    range and retries."""
    scope = {
        "after_seq": after_seq,
        "until_seq": until_seq,
        "retry_submissions": list(retry_submissions),
    }
    return {"ops": {op: {"config": dict(scope)} for op in ops}}


submission_reports_job = dg.define_asset_job(
    "submission_reports_job",
    selection=dg.AssetSelection.assets(submission_report),
    executor_def=dg.in_process_executor,
    description="Re-process selected submissions (re-fetch, re-flatten, re-score, publish, "
    "rewrite their reports): what a UI or CLI backfill of report partitions runs, 50 per run.",
)

daily_quality_job = dg.define_asset_job(
    "daily_quality_job",
    selection=dg.AssetSelection.assets(daily_quality, analytics_snapshot, daily_digest),
    executor_def=dg.in_process_executor,
    description="Rebuild daily_quality, publish, and write the daily digest page.",
)
