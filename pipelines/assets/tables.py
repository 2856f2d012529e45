"""The flattened tables, rebuilt for the run's submissions from the raw responses (one step,
one commit), with the asset checks scoped to those submissions."""

from collections.abc import Iterator

import dagster as dg

from mmq.warehouse import checks, steps
from mmq.warehouse.schema import FLAT_TABLES, TABLES
from pipelines.assets.ingest import RETRY, IngestScope, api_responses
from pipelines.metadata import counts_table, load_id, markdown_table
from pipelines.partitions import WAREHOUSE_POOL
from pipelines.resources import WarehouseResource

# Where each check attaches in the UI, and how bad a failure is.
CHECK_TARGETS = {
    "issue_count_matches_event": ("issues", dg.AssetCheckSeverity.WARN),
    "issues_in_exactly_one_topic_or_orphans": ("topic_issues", dg.AssetCheckSeverity.ERROR),
    "no_duplicate_keys": ("issues", dg.AssetCheckSeverity.ERROR),
    "enums_valid": ("issues", dg.AssetCheckSeverity.WARN),
}


def _spec(name: str) -> dg.AssetSpec:
    table = TABLES[name]
    return dg.AssetSpec(
        name,
        description=table.doc,
        group_name="warehouse",
        kinds={"duckdb"},
        deps=[api_responses],
        metadata={
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(c.name, c.type, description=c.doc) for c in table.columns]
            ),
            "dagster/table_name": f"warehouse.main.{name}",
        },
    )


@dg.multi_asset(
    specs=[_spec(name) for name in FLAT_TABLES],
    check_specs=[
        dg.AssetCheckSpec(name, asset=target, description=checks.CHECKS[name][0])
        for name, (target, _severity) in CHECK_TARGETS.items()
    ],
    pool=WAREHOUSE_POOL,
    retry_policy=RETRY,
    can_subset=False,
)
def submission_tables(
    context: dg.AssetExecutionContext, config: IngestScope, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Flatten the latest raw responses of the run's submissions (delete + insert by key)."""
    with warehouse.connect() as conn:
        ids = config.touched(conn)
        counts = steps.rebuild_tables(conn, ids, load_id=load_id(context), run_id=context.run_id)
        outcomes = checks.run_checks(conn, ids)
    context.log.info(f"flattened {len(ids)} submissions: {counts}")
    for name in FLAT_TABLES:
        yield dg.MaterializeResult(
            asset_key=name,
            metadata={
                "dagster/row_count": counts[name],
                "submissions": len(ids),
                "rows_by_table": counts_table(counts),
            },
        )
    for outcome in outcomes:
        target, severity = CHECK_TARGETS[outcome.name]
        yield dg.AssetCheckResult(
            check_name=outcome.name,
            asset_key=target,
            passed=outcome.passed,
            severity=severity,
            metadata={
                "failures": outcome.failures,
                "examples": markdown_table(["a", "b", "c"], outcome.examples),
            },
        )
