"""The feed sensor: new landed events (and due retries) → one ingest run per tick.

The run is unpartitioned: its feed range and due retries travel in its run config, so its cost
in Dagster events does not grow with the submissions it touches. New submissions are still
registered as ``submission`` partitions, so the UI lists their reports and can backfill them.

It reads the receiver's feed over HTTP and Dagster's own instance; it never calls the
Integrations API and never opens a DuckDB file (a sensor runs in the long-lived code server:
a lock taken there would block every run). Every skip says why.
"""

from datetime import UTC, datetime

import dagster as dg

from mmq.feed import FeedUnavailable, ReceiverFeed
from mmq.settings import get_settings
from mmq.warehouse.flatten import event_submission_id
from pipelines.jobs import SCOPED_OPS, ingest_job, ingest_run_config
from pipelines.partitions import submission_partitions
from pipelines.resources import ReceiverFeedResource
from sensors.cursor import FeedCursor

SENSOR_NAME = "receiver_feed_sensor"
LAND_ONLY = [dg.AssetKey("webhook_events"), dg.AssetKey("analytics_snapshot")]
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def read_new_events(feed: ReceiverFeed, after: int, limit: int) -> tuple[list[dict], int]:
    """Up to ``limit`` events after ``after`` (several feed pages); also the latest seq."""
    events: list[dict] = []
    latest = after
    cursor = after
    while len(events) < limit:
        page = feed.page(cursor, limit - len(events))
        latest = page.latest_seq
        events.extend(page.events)
        if not page.events or not page.has_more:
            break
        cursor = page.next_after
    return events, latest


def due_retries(instance: dg.DagsterInstance, now: datetime) -> tuple[list[str], int | None]:
    """Submissions whose pending fetches are due, from the latest ``pending_fetches``
    materialization's metadata; also that record's id (it keys retry runs)."""
    records = instance.fetch_materializations(dg.AssetKey("pending_fetches"), limit=1).records
    if not records:
        return [], None
    upcoming = records[0].asset_materialization.metadata.get("upcoming")
    due = [
        u["submission_id"]
        for u in (upcoming.value if upcoming is not None else [])
        if datetime.fromisoformat(u["next_attempt_at"]) <= now
    ]
    return due, records[0].storage_id


@dg.sensor(
    name=SENSOR_NAME,
    job=ingest_job,
    minimum_interval_seconds=get_settings().sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads new events from the receiver feed, registers their submissions as "
    "report partitions and requests one ingest run per tick for the feed range and the due "
    "pending retries (in run config). Waits while its previous run is in flight.",
)
def receiver_feed_sensor(
    context: dg.SensorEvaluationContext, receiver: ReceiverFeedResource
) -> dg.SensorResult | dg.SkipReason:
    cursor = FeedCursor.parse(context.cursor)
    busy = context.instance.get_runs(
        filters=dg.RunsFilter(
            job_name=ingest_job.name, statuses=IN_FLIGHT, tags={"dagster/sensor_name": SENSOR_NAME}
        ),
        limit=1,
    )
    if busy:
        return dg.SkipReason(
            f"run {busy[0].run_id[:8]} is still {busy[0].status.value.lower()}; events after "
            f"seq {cursor.seq} wait for it (each run takes everything new, so waiting batches)"
        )
    limit = get_settings().pipeline_max_events_per_run
    try:
        events, latest = read_new_events(receiver.feed(), cursor.seq, limit)
    except FeedUnavailable as error:
        return dg.SkipReason(f"receiver unreachable, will retry next tick: {error}")
    due, pending_record = due_retries(context.instance, datetime.now(UTC))
    retries = list(dict.fromkeys([*cursor.deferred, *due]))
    if not events and not retries:
        return dg.SkipReason(
            f"nothing new: no events after seq {cursor.seq} (receiver at {latest}), "
            "no pending retries due"
        )

    touched = list(dict.fromkeys(s for e in events if (s := event_submission_id(e))))
    known = set(context.instance.get_dynamic_partitions(submission_partitions.name))
    new = [s for s in touched if s not in known]
    after, until = cursor.seq, (events[-1]["seq"] if events else cursor.seq)
    # Only test, unknown or unparseable events: land them, nothing to fetch or report.
    land_only = not touched and not retries
    if events:
        run_key = f"feed:{after}-{until}"
    elif due:  # each new pending-list state may trigger one retry run
        run_key = f"retry:{pending_record}"
    else:  # only an older cursor's deferred submissions
        run_key = f"retry:deferred-{after}"
    request = dg.RunRequest(
        run_key=run_key,
        run_config=ingest_run_config(
            after, until, retries, ops=("webhook_events",) if land_only else SCOPED_OPS
        ),
        tags={
            "mmq/seq_range": f"{after}-{until}",
            "mmq/submissions": str(len(set(touched) | set(retries))),
            "mmq/retries": str(len(retries)),
        },
        asset_selection=LAND_ONLY if land_only else None,
    )
    context.log.info(
        f"{len(events)} events (seq {after}→{until}), {len(touched)} submissions "
        f"({len(new)} new), {len(retries)} due retries → 1 run"
    )
    return dg.SensorResult(
        run_requests=[request],
        dynamic_partitions_requests=[submission_partitions.build_add_request(new)] if new else [],
        cursor=FeedCursor(until).dump(),
    )
