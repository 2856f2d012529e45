"""Submissions as dynamic partitions: the sensor registers each new submission id."""

import dagster as dg

submission_partitions = dg.DynamicPartitionsDefinition(name="submission")

# A UI or CLI backfill of N submissions runs in ceil(N / 50) runs.
BACKFILL_BATCH = 50
backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=BACKFILL_BATCH)

# Every asset that writes warehouse.duckdb or analytics.duckdb takes a slot of this pool,
# whose limit is 1 (dagster.yaml): one writer process at a time, as DuckDB requires.
WAREHOUSE_POOL = "duckdb_warehouse"
