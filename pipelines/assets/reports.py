"""Reports: one HTML quality report per submission (partitioned), the index and the digest."""

import json

import dagster as dg

from mmq.warehouse.load import query_dicts
from pipelines.assets.quality import analytics_snapshot, daily_quality, submission_quality
from pipelines.metadata import markdown_table
from pipelines.partitions import WAREHOUSE_POOL, backfill_policy, submission_partitions
from pipelines.resources import WarehouseResource

SUMMARY_SQL = """
SELECT submission_id, score, verdict, status, asset_count, assets_completed, assets_failed,
       issue_count, open_count, open_critical, open_major, open_minor, critical_count,
       major_count, minor_count, info_count, topic_count, orphan_count, top_rule_codes,
       processing_latency_seconds
FROM submission_quality WHERE submission_id IN (SELECT unnest(?))
"""


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


@dg.asset(
    group_name="reports",
    kinds={"html"},
    partitions_def=submission_partitions,
    backfill_policy=backfill_policy,
    pool=WAREHOUSE_POOL,
    deps=[submission_quality, analytics_snapshot],
    description="The per-submission HTML quality report (reports/<submission_id>.html), "
    "rendered from analytics.duckdb; its metadata summarises the verdict.",
)
def submission_report(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from mmq.reports import write_index, write_submission_reports

    ids = list(context.partition_keys)
    if warehouse.publish_if_stale() is not None:
        context.log.info("published analytics.duckdb first: it lacked this run's loads")
    with warehouse.analytics() as conn:
        written = write_submission_reports(conn, ids, warehouse.reports_dir)
        index = write_index(conn, warehouse.reports_dir)
        rows = {r["submission_id"]: r for r in query_dicts(conn, SUMMARY_SQL, [ids])}
    for sid in ids:
        row = rows.get(sid)
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
        if sid in written:
            metadata["report"] = dg.MetadataValue.url(warehouse.report_url(sid))
        context.add_asset_metadata(metadata, partition_key=sid)
    context.log.info(f"wrote {len(written)} reports and {index}")
    return dg.MaterializeResult(
        metadata={"reports_written": len(written), "index": dg.MetadataValue.path(str(index))}
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
