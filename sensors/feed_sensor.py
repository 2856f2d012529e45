"""The feed sensor: new landed events (and due retries) → one ingest run per tick.

The run is unpartitioned: its feed range and due retries travel in its run config, so its cost
in Dagster events does not grow with the submissions it touches. New submissions are still
registered as ``submission`` partitions, so the UI lists their reports and can backfill them.

A tick waits while its previous run is queued, starting or has not published yet, but not
while that run writes its reports: the next run's start-up overlaps them (see
:func:`waiting_for`).

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
# The last step of a run that writes the warehouse; after it, only its reports are left.
PUBLISH_STEP = "analytics_snapshot"


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


def has_published(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """Whether ``run``'s ``analytics_snapshot`` step succeeded (read from its STEP_SUCCESS
    events: a handful per run, unlike its thousands of report materializations)."""
    records = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS
    ).records
    return any(r.event_log_entry.step_key == PUBLISH_STEP for r in records)


def waiting_for(instance: dg.DagsterInstance) -> tuple[dg.DagsterRun, str] | None:
    """The sensor's in-flight run the next tick must wait for, and why; None when there is
    none.

    A run is waited for until it has published (queued, starting, or started and not past
    ``analytics_snapshot``), so that the next run takes everything that arrived meanwhile and
    never interleaves its warehouse steps with this one's. Its reports are not waited for: the
    next run starts up (~5 s of process start and imports) while they are written, and its
    first warehouse step takes the pool slot (one, granularity ``op``) after them. A run that
    will never publish (a re-execution of its reports alone) is waited for until it ends.
    """
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            job_name=ingest_job.name, statuses=IN_FLIGHT, tags={"dagster/sensor_name": SENSOR_NAME}
        ),
        limit=10,
    )
    for run in runs:
        if run.status != dg.DagsterRunStatus.STARTED:
            return run, f"is still {run.status.value.lower()}"
        if not has_published(instance, run):
            return run, "has not published yet"
    return None


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
    "pending retries (in run config). Waits while its previous run is queued, starting or "
    "not yet published.",
)
def receiver_feed_sensor(
    context: dg.SensorEvaluationContext, receiver: ReceiverFeedResource
) -> dg.SensorResult | dg.SkipReason:
    cursor = FeedCursor.parse(context.cursor)
    busy = waiting_for(context.instance)
    if busy is not None:
        run, why = busy
        return dg.SkipReason(
            f"run {run.run_id[:8]} {why}; events after seq {cursor.seq} wait for it "
            "(each run takes everything new, so waiting batches)"
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
