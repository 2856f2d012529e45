"""Quality: per-submission scores and verdicts, the daily digest table, the published snapshot."""

from datetime import UTC, datetime

import dagster as dg

from mmq.settings import get_settings
from mmq.warehouse import process, quality, steps
from mmq.warehouse.connection import transaction
from mmq.warehouse.load import query_dicts
from pipelines.assets.ingest import IngestScope, pending_fetches
from pipelines.assets.tables import FLAT_TABLES
from pipelines.metadata import counts_table, load_id, markdown_table
from pipelines.partitions import WAREHOUSE_POOL
from pipelines.resources import WarehouseResource


class ScoreWeights(dg.Config):
    """Points a submission loses per *open* issue of each severity (defaults: settings)."""

    critical: int = get_settings().score_weight_critical
    major: int = get_settings().score_weight_major
    minor: int = get_settings().score_weight_minor
    info: int = get_settings().score_weight_info


class ScopedScoreWeights(IngestScope, ScoreWeights):
    """The run's submissions (see ``IngestScope``) and the score weights."""


def score_weights(config: ScoreWeights) -> quality.ScoreWeights:
    return quality.ScoreWeights(config.critical, config.major, config.minor, config.info)


def weights_label(weights: quality.ScoreWeights) -> str:
    return (
        f"critical {weights.critical}, major {weights.major}, "
        f"minor {weights.minor}, info {weights.info}"
    )


@dg.asset(
    group_name="quality",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    deps=list(FLAT_TABLES),
    description="Per-submission metrics, score (0–100) and verdict (blocked / needs_review / "
    "clear), recomputed for the run's submissions; see docs/data-model.md for the formula.",
)
def submission_quality(
    context: dg.AssetExecutionContext, config: ScopedScoreWeights, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    weights = score_weights(config)
    with warehouse.connect() as conn:
        ids = config.touched(conn)
        scored = process.score_submissions(
            conn, ids, weights=weights, load_id=load_id(context), run_id=context.run_id
        )
    if scored.written < len(ids):
        context.log.warning(
            f"{len(ids) - scored.written} of {len(ids)} submissions have no status yet (pending)"
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": scored.written,
            "submissions": len(ids),
            "verdicts": counts_table(scored.verdicts, "verdict", "submissions"),
            "weights": weights_label(weights),
        }
    )


@dg.asset(
    group_name="quality",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[submission_quality],
    description="One row per day and workspace: submissions, assets, score distribution, "
    "verdict counts, top rules, failure rate. Built by the daily schedule.",
)
def daily_quality(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    started, lid = datetime.now(UTC), load_id(context)
    with warehouse.connect() as conn, transaction(conn):
        written = quality.compute_daily_quality(conn, now=started, load_id=lid)
        steps.record_load(
            conn,
            load_id=lid,
            step="daily_quality",
            started_at=started,
            run_id=context.run_id,
            submissions=0,
            row_counts={"daily_quality": written},
        )
        recent = query_dicts(
            conn,
            "SELECT day, submissions, assets, round(score_avg, 1) AS score_avg, verdict_blocked, "
            "round(failure_rate, 3) AS failure_rate FROM daily_quality ORDER BY day DESC LIMIT 14",
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "recent_days": markdown_table(
                ["day", "submissions", "assets", "avg score", "blocked", "failure rate"],
                [tuple(r.values()) for r in recent],
            ),
        }
    )


@dg.asset(
    group_name="publish",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[submission_quality, pending_fetches, daily_quality],
    description="analytics.duckdb: a copy of the warehouse swapped in atomically after each "
    "write run. Analysts, notebooks and reports read only this file.",
)
def analytics_snapshot(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    with warehouse.connect() as conn:
        stats = warehouse.publish(conn)
        tables = dict(
            conn.execute(
                "SELECT table_name, estimated_size FROM duckdb_tables() "
                "WHERE database_name = current_database() ORDER BY 1"
            ).fetchall()
        )
    context.log.info(f"published {stats['bytes']:,} bytes in {stats['seconds']:.2f}s")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(warehouse.analytics_path)),
            "bytes": stats["bytes"],
            "seconds": round(stats["seconds"], 3),
            "tables": counts_table(tables, "table", "rows (estimated)"),
        }
    )
