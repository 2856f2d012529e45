"""Reports: the per-submission HTML quality reports, the index and the daily digest.

``submission_report`` is partitioned by submission, so the UI lists every submission's report
with its verdict. The sensor's ingest run does not materialize those partitions one by one
(that costs ~20 Dagster events per submission): its ``quality_reports`` step writes the HTML and
*records* one ``submission_report`` materialization per touched submission. Materializing
``submission_report`` itself (a UI backfill, ``dagster asset materialize --partition-range``)
re-processes its partitions from the API, in batches of 50 per run.
"""

import json

import dagster as dg

from mmq.warehouse import process
from mmq.warehouse.process import ReportsWritten
from pipelines.assets.ingest import RETRY, IngestScope, pending_backoff, webhook_events
from pipelines.assets.quality import (
    ScoreWeights,
    analytics_snapshot,
    daily_quality,
    score_weights,
    submission_quality,
    weights_label,
)
from pipelines.metadata import counts_table, load_id, markdown_table
from pipelines.partitions import WAREHOUSE_POOL, backfill_policy, submission_partitions
from pipelines.resources import IntegrationsApiResource, WarehouseResource

REPORT_ASSET = "submission_report"


def _summary(row: dict) -> dg.MarkdownMetadataValue:
    top = ", ".join(f"{r['rule_code']} ({r['issues']})" for r in json.loads(row["top_rule_codes"]))
    return markdown_table(
        ["", "value"],
        [
            ("verdict", f"**{row['verdict']}**"),
            ("score", row["score"]),
            ("assets", f"{row['asset_count']} ({row['assets_failed']} failed)"),
            ("issues", f"{row['issue_count']} ({row['open_count']} open)"),
            (
                "open critical / major / minor",
                f"{row['open_critical']} / {row['open_major']} / {row['open_minor']}",
            ),
            (
                "severity mix (C/M/m/i)",
                f"{row['critical_count']}/{row['major_count']}/{row['minor_count']}/"
                f"{row['info_count']}",
            ),
            ("topics / orphans", f"{row['topic_count']} / {row['orphan_count']}"),
            ("top rules", top or "–"),
        ],
    )


def report_metadata(
    warehouse: WarehouseResource, reports: ReportsWritten, submission_id: str
) -> dict:
    """A report partition's UI metadata: verdict, score, counts, Markdown summary, link."""
    row = reports.summaries.get(submission_id)
    if row is None:
        metadata = {"verdict": "pending", "summary": dg.MetadataValue.md("No data yet.")}
    else:
        metadata = {
            "summary": _summary(row),
            "score": row["score"],
            "verdict": row["verdict"],
            "issues": row["issue_count"],
            "open_critical": row["open_critical"],
            "assets_failed": row["assets_failed"],
        }
    if submission_id in reports.written:
        metadata["report"] = dg.MetadataValue.url(warehouse.report_url(submission_id))
    return metadata


@dg.asset(
    group_name="reports",
    kinds={"html"},
    pool=WAREHOUSE_POOL,
    deps=[submission_quality, analytics_snapshot],
    description="The HTML reports of the run's submissions and the index, rendered from "
    "analytics.duckdb. Records one `submission_report` partition materialization per "
    "submission (verdict, score, summary, link), one event each.",
)
def quality_reports(
    context: dg.AssetExecutionContext, config: IngestScope, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    warehouse.publish_if_stale()  # normally a no-op: analytics_snapshot ran just before
    with warehouse.analytics() as conn:
        ids = config.touched(conn)  # the published copy holds this run's events too
        reports = process.write_reports(conn, ids, warehouse.reports_dir)
    for sid in ids:
        context.log_event(
            dg.AssetMaterialization(
                asset_key=REPORT_ASSET,
                partition=sid,
                description=f"written by the ingest run {context.run_id[:8]}",
                metadata=report_metadata(warehouse, reports, sid),
            )
        )
    context.log.info(f"wrote {len(reports.written)} reports and {reports.index}")
    return dg.MaterializeResult(
        metadata={
            "submissions": len(ids),
            "reports_written": len(reports.written),
            "index": dg.MetadataValue.path(str(reports.index)),
        }
    )


@dg.asset(
    name=REPORT_ASSET,
    group_name="reports",
    kinds={"html"},
    partitions_def=submission_partitions,
    backfill_policy=backfill_policy,
    pool=WAREHOUSE_POOL,
    deps=[webhook_events],
    retry_policy=RETRY,
    description="The per-submission HTML quality report (reports/<submission_id>.html); its "
    "metadata summarises the verdict. The sensor's runs record these partitions; "
    "materializing them (a backfill) re-fetches, re-flattens, re-scores, publishes and "
    "rewrites the reports of the selected submissions, 50 per run.",
)
def submission_report(
    context: dg.AssetExecutionContext,
    config: ScoreWeights,
    warehouse: WarehouseResource,
    api: IntegrationsApiResource,
) -> dg.MaterializeResult:
    ids = list(context.partition_keys)
    weights = score_weights(config)
    with warehouse.connect() as conn:
        done = process.process_submissions(
            conn,
            api.client,
            ids,
            load_id=load_id(context),
            backoff=pending_backoff(),
            weights=weights,
            run_id=context.run_id,
            log=context.log.info,
        )
        warehouse.publish(conn)
    with warehouse.analytics() as conn:
        reports = process.write_reports(conn, ids, warehouse.reports_dir)
    for sid in ids:
        context.add_asset_metadata(report_metadata(warehouse, reports, sid), partition_key=sid)
    failed = {o.name: o.failures for o in done.check_outcomes if not o.passed}
    if failed:
        context.log.warning(f"checks failed for these submissions: {failed}")
    context.log.info(
        f"re-processed {len(ids)} submissions ({done.fetch.responses} responses), "
        f"wrote {len(reports.written)} reports"
    )
    return dg.MaterializeResult(
        metadata={
            "responses": done.fetch.responses,
            "rows_by_table": counts_table(done.table_counts),
            "verdicts": counts_table(done.quality.verdicts, "verdict", "submissions"),
            "failed_checks": counts_table(failed, "check", "failures"),
            "weights": weights_label(weights),
            "reports_written": len(reports.written),
        }
    )


@dg.asset(
    group_name="reports",
    kinds={"html"},
    pool=WAREHOUSE_POOL,
    deps=[daily_quality, analytics_snapshot],
    description="The daily digest page (reports/daily.html) and the index of all reports.",
)
def daily_digest(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from mmq.reports import write_daily_digest, write_index

    warehouse.publish_if_stale()
    with warehouse.analytics() as conn:
        digest = write_daily_digest(conn, warehouse.reports_dir)
        index = write_index(conn, warehouse.reports_dir)
    context.log.info(f"wrote {digest} and {index}")
    return dg.MaterializeResult(
        metadata={
            "digest": dg.MetadataValue.path(str(digest)),
            "index": dg.MetadataValue.path(str(index)),
        }
    )
