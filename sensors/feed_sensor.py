"""The feed sensor: new landed events → new submission partitions → one ingest run per tick.

It reads the receiver's feed over HTTP and Dagster's own instance; it never calls the
Integrations API and never opens a DuckDB file (a sensor runs in the long-lived code server:
a lock taken there would block every run). Every skip says why.
"""

from datetime import UTC, datetime

import dagster as dg

from mmq.feed import FeedUnavailable, ReceiverFeed
from mmq.settings import get_settings
from mmq.warehouse.flatten import event_submission_id
from pipelines.jobs import ingest_job
from pipelines.partitions import BACKFILL_BATCH, submission_partitions
from pipelines.resources import ReceiverFeedResource
from sensors.planning import FeedCursor, PartitionRange, plan_ranges

SENSOR_NAME = "receiver_feed_sensor"
# Most ranges (runs) requested per tick, the main one included; the rest wait in the cursor.
MAX_RUNS_PER_TICK = 3
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


def run_request(
    partition_range: PartitionRange | None, after: int, until: int, run_key: str
) -> dg.RunRequest:
    config = {"ops": {"webhook_events": {"config": {"after_seq": after, "until_seq": until}}}}
    if partition_range is None:  # only events without work (tests, unknown types): land them
        return dg.RunRequest(
            run_key=run_key,
            run_config=config,
            asset_selection=[dg.AssetKey("webhook_events"), dg.AssetKey("analytics_snapshot")],
        )
    return dg.RunRequest(
        run_key=run_key,
        run_config=config,
        tags={
            "dagster/asset_partition_range_start": partition_range.start,
            "dagster/asset_partition_range_end": partition_range.end,
            "mmq/partitions": str(partition_range.size),
            "mmq/seq_range": f"{after}-{until}",
        },
    )


@dg.sensor(
    name=SENSOR_NAME,
    job=ingest_job,
    minimum_interval_seconds=get_settings().sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads new events from the receiver feed, registers their submissions as "
    "partitions and requests one ingest run per tick (plus bounded catch-up runs for late "
    "events and due pending retries). Waits while its previous run is in flight.",
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
    if not events and not due and not cursor.deferred:
        return dg.SkipReason(
            f"nothing new: no events after seq {cursor.seq} (receiver at {latest}), "
            "no pending retries due"
        )

    touched = list(dict.fromkeys(s for e in events if (s := event_submission_id(e))))
    existing = context.instance.get_dynamic_partitions(submission_partitions.name)
    known = set(existing)
    new = [s for s in touched if s not in known]
    order = [*existing, *new]
    ranges, deferred = plan_ranges(
        order,
        [*cursor.deferred, *due, *touched],
        max_gap=BACKFILL_BATCH,
        max_runs=MAX_RUNS_PER_TICK,
    )
    if not events and not ranges:
        return dg.SkipReason("pending retries are due but none of their partitions is known")
    after, until = cursor.seq, (events[-1]["seq"] if events else cursor.seq)
    stamp = f"feed:{after}-{until}" if events else f"retry:{pending_record}"
    requests = [run_request(r, after, until, f"{stamp}:{r.start}..{r.end}") for r in ranges] or [
        run_request(None, after, until, stamp)
    ]
    context.log.info(
        f"{len(events)} events (seq {after}→{until}), {len(new)} new submissions, "
        f"{len(due)} due retries → {len(requests)} run(s); {len(deferred)} deferred"
    )
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[submission_partitions.build_add_request(new)] if new else [],
        cursor=FeedCursor(until, deferred).dump(),
    )
