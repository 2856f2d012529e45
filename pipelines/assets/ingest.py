"""Ingest: landed webhook events → ``webhook_events``; the API's answers → ``api_responses``."""

from datetime import UTC, datetime

import dagster as dg
import duckdb
from pydantic import Field

from mmq.feed import FeedUnavailable
from mmq.settings import get_settings
from mmq.warehouse import checks, pending, process, steps
from pipelines.metadata import counts_table, load_id, markdown_table
from pipelines.partitions import WAREHOUSE_POOL
from pipelines.resources import IntegrationsApiResource, ReceiverFeedResource, WarehouseResource

RETRY = dg.RetryPolicy(
    max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.FULL
)


class IngestScope(dg.Config):
    """What a sensor tick assigned to this run: the feed range ``after_seq < seq <= until_seq``
    and the submissions whose pending fetches are due. Every ingest asset that needs the run's
    submissions gets this same config and reads them back from the warehouse."""

    after_seq: int = 0
    until_seq: int = 0
    retry_submissions: list[str] = Field(
        default_factory=list, description="Submissions with due pending fetches to retry."
    )

    def touched(self, conn: duckdb.DuckDBPyConnection) -> list[str]:
        return process.touched_submissions(
            conn, self.after_seq, self.until_seq, self.retry_submissions
        )


def pending_backoff() -> pending.Backoff:
    settings = get_settings()
    return pending.Backoff(
        base_seconds=settings.pending_backoff_seconds,
        cap_seconds=settings.pending_backoff_cap_seconds,
        max_attempts=settings.pending_max_attempts,
    )


@dg.asset(
    group_name="ingest",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    retry_policy=RETRY,
    description="Every landed webhook event of the run's feed range, flagged by handling.",
)
def webhook_events(
    context: dg.AssetExecutionContext,
    config: IngestScope,
    warehouse: WarehouseResource,
    receiver: ReceiverFeedResource,
) -> dg.MaterializeResult:
    feed = receiver.feed()
    events = list(feed.iter_range(config.after_seq, config.until_seq))
    try:
        samples = feed.metrics()
    except FeedUnavailable as error:  # the counters are nice to have; the events are not
        context.log.warning(f"receiver metrics not scraped: {error}")
        samples = None
    lid = load_id(context)
    with warehouse.connect() as conn:
        landed = steps.land_events(conn, events, load_id=lid, run_id=context.run_id)
        if samples is not None:
            steps.land_receiver_stats(
                conn,
                samples,
                receiver_url=feed.base_url,
                latest_seq=config.until_seq,
                load_id=lid,
            )
    seq_range = f"({config.after_seq}, {config.until_seq}]"
    context.log.info(f"landed {landed.count} events of seq {seq_range}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": landed.count,
            "seq_range": seq_range,
            "submissions": len(landed.submission_ids),
            "by_handling": counts_table(landed.by_handling, "handling", "events"),
            "load_id": lid,
        }
    )


@dg.asset(
    group_name="ingest",
    kinds={"duckdb", "api"},
    pool=WAREHOUSE_POOL,
    deps=[webhook_events],
    retry_policy=RETRY,
    description="Raw JSON of each touched submission's status and of every completed asset's "
    "issues and topics, fetched concurrently through the client (latest successful fetch "
    "wins). Touched: the submissions of the run's events, plus its due retries.",
)
def api_responses(
    context: dg.AssetExecutionContext,
    config: IngestScope,
    warehouse: WarehouseResource,
    api: IntegrationsApiResource,
) -> dg.MaterializeResult:
    with warehouse.connect() as conn:
        ids = config.touched(conn)
        report = steps.fetch_raw(
            conn,
            api.client,
            ids,
            load_id=load_id(context),
            backoff=pending_backoff(),
            run_id=context.run_id,
            log=context.log.info,
        )
    context.log.info(
        f"{report.responses} responses for {report.submissions} submissions in "
        f"{report.seconds:.1f}s; failures {report.failures_by_reason or 'none'}"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": report.responses,
            "submissions": report.submissions,
            "retries": len(config.retry_submissions),
            "seconds": round(report.seconds, 2),
            "failures": counts_table(report.failures_by_reason, "reason", "fetches"),
            "pending_changes": counts_table(report.pending_transitions, "transition", "fetches"),
        }
    )


@dg.asset(
    group_name="ingest",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[api_responses],
    check_specs=[
        dg.AssetCheckSpec(
            checks.PENDING_AGE_CHECK,
            asset="pending_fetches",
            description=checks.PENDING_AGE_DESCRIPTION,
        )
    ],
    description="Fetches still to retry (results not ready, API errors), with backoff; "
    "the feed sensor reads `upcoming` from this metadata to schedule the retries.",
)
def pending_fetches(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    now = datetime.now(UTC)
    threshold = get_settings().pending_alert_seconds
    with warehouse.connect() as conn:
        state = pending.summary(conn, now)
        stale = checks.pending_age_check(conn, now=now, threshold_seconds=threshold)
    upcoming = state["upcoming"]
    context.log.info(f"{state['pending']} pending, {state['given_up']} given up")
    check = dg.AssetCheckResult(
        check_name=stale.name,
        passed=stale.passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "failures": stale.failures,
            "threshold_seconds": threshold,
            "examples": markdown_table(["submission", "asset", "reason"], stale.examples),
        },
    )
    return dg.MaterializeResult(
        check_results=[check],
        metadata={
            "pending": state["pending"],
            "given_up": state["given_up"],
            "resolved": state["resolved"],
            "oldest_pending_seconds": round(state["oldest_pending_seconds"], 1),
            "upcoming_retries": markdown_table(
                ["submission", "next attempt", "assets", "reason", "attempts"],
                [
                    (
                        u["submission_id"],
                        u["next_attempt_at"].isoformat(),
                        u["assets"],
                        u["reason"],
                        u["attempts"],
                    )
                    for u in upcoming[:20]
                ],
            ),
            # Machine-readable for the sensor (it never opens DuckDB).
            "upcoming": dg.MetadataValue.json(
                [
                    {
                        "submission_id": u["submission_id"],
                        "next_attempt_at": u["next_attempt_at"].isoformat(),
                    }
                    for u in upcoming
                ]
            ),
        },
    )
