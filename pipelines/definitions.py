"""The ``mmq`` code location: assets, checks, jobs, the feed sensor and the daily schedule.

Non-secret settings come from ``mmq.settings`` (``MMQ_*`` variables) when the location loads;
secrets (API key, feed token) are ``dg.EnvVar``s, resolved in each run and never stored.
"""

import dagster as dg

from mmq.settings import get_settings
from pipelines.assets import ALL_ASSETS
from pipelines.jobs import daily_quality_job, ingest_job, submission_reports_job
from pipelines.resources import HttpIntegrationsApi, ReceiverFeedResource, WarehouseResource
from pipelines.schedules import daily_quality_schedule
from sensors.feed_sensor import receiver_feed_sensor


def build_resources(settings=None) -> dict:
    settings = settings or get_settings()
    return {
        "warehouse": WarehouseResource(
            data_dir=str(settings.data_dir.resolve()),
            reports_base_url=settings.reports_base_url,
        ),
        "api": HttpIntegrationsApi(
            base_url=settings.api_base_url,
            api_key=dg.EnvVar("MMQ_API_KEY"),
            timeout_seconds=settings.api_timeout_seconds,
            max_concurrency=settings.api_max_concurrency,
            max_attempts=settings.api_max_attempts,
        ),
        "receiver": ReceiverFeedResource(
            url=settings.receiver_url, token=dg.EnvVar("MMQ_FEED_TOKEN")
        ),
    }


def make_definitions(resources: dict) -> dg.Definitions:
    """The code location with the given resources (tests pass their own)."""
    return dg.Definitions(
        assets=ALL_ASSETS,
        jobs=[ingest_job, submission_reports_job, daily_quality_job],
        sensors=[receiver_feed_sensor],
        schedules=[daily_quality_schedule],
        resources=resources,
    )


defs = make_definitions(build_resources())
