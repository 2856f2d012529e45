"""Scheduled reporting: the daily digest, shortly after midnight UTC."""

import dagster as dg

from pipelines.jobs import daily_quality_job

daily_quality_schedule = dg.ScheduleDefinition(
    name="daily_quality_schedule",
    job=daily_quality_job,
    cron_schedule="15 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Rebuilds daily_quality and the digest page every day at 00:15 UTC.",
)
