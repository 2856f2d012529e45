"""Jobs: the sensor's ingest job and the daily reporting job (both in one process per run)."""

import dagster as dg

from pipelines.assets import (
    analytics_snapshot,
    api_responses,
    daily_digest,
    daily_quality,
    pending_fetches,
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
        submission_report,
    ),
    executor_def=dg.in_process_executor,
    description="Land a feed range of webhook events, fetch and flatten their submissions, "
    "score them, publish analytics.duckdb and write their reports (launched by the sensor).",
)

daily_quality_job = dg.define_asset_job(
    "daily_quality_job",
    selection=dg.AssetSelection.assets(daily_quality, analytics_snapshot, daily_digest),
    executor_def=dg.in_process_executor,
    description="Rebuild daily_quality, publish, and write the daily digest page.",
)
