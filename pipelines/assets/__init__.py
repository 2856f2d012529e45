"""The code location's assets, grouped as the UI shows them: ingest → warehouse → quality →
publish → reports."""

from pipelines.assets.ingest import api_responses, pending_fetches, webhook_events
from pipelines.assets.quality import analytics_snapshot, daily_quality, submission_quality
from pipelines.assets.reports import daily_digest, quality_reports, submission_report
from pipelines.assets.tables import submission_tables

ALL_ASSETS = [
    webhook_events,
    api_responses,
    submission_tables,
    pending_fetches,
    submission_quality,
    daily_quality,
    analytics_snapshot,
    quality_reports,
    submission_report,
    daily_digest,
]
