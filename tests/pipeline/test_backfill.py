"""A backfill of selected submissions, run by Dagster's own backfill machinery.

The code location is loaded from ``pipelines.definitions`` in a gRPC code server (as
``workspace.yaml`` loads it), the backfill is submitted like the UI submits one, the daemon's
backfill iteration launches its runs and the default run launcher executes them as
subprocesses. The runs re-fetch and rebuild the submissions: a status a reviewer changed
meanwhile shows up, nothing is duplicated, and N submissions take at most ⌈N/50⌉ runs.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.utils import make_new_backfill_id
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.backfill import execute_backfill_iteration

from pipelines.partitions import BACKFILL_BATCH
from tests.pipeline.stack import running_stack
from tests.pipeline.truth import assert_matches_truth

pytestmark = pytest.mark.timeout(420)

ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = BACKFILL_BATCH + 5  # just over one batch: exactly two runs
# What a user selects in the UI to rebuild submissions: the partitioned report, whose runs
# re-fetch, re-flatten, re-score, publish and rewrite the reports of their partitions.
SELECTION = ["submission_report"]


def run_backfill(stack, partition_keys: list[str], timeout: float = 240) -> PartitionBackfill:
    instance = stack.instance
    target = ModuleTarget(
        module_name="pipelines.definitions",
        attribute="defs",
        working_directory=str(ROOT),
        location_name="mmq",
    )
    with create_test_daemon_workspace_context(target, instance) as workspace:
        request = workspace.create_request_context()
        entry = next(iter(request.get_code_location_entries().values()))
        assert entry.code_location is not None, entry.load_error
        backfill_id = make_new_backfill_id()
        instance.add_backfill(
            PartitionBackfill.from_asset_partitions(
                backfill_id=backfill_id,
                asset_graph=request.asset_graph,
                partition_names=partition_keys,
                asset_selection=[dg.AssetKey(name) for name in SELECTION],
                backfill_timestamp=time.time(),
                tags={},
                dynamic_partitions_store=instance,
                all_partitions=False,
                title="rebuild submissions",
                description=None,
                run_config=None,
            )
        )
        logger = logging.getLogger("backfill-test")
        deadline = time.monotonic() + timeout
        while True:
            list(execute_backfill_iteration(workspace, logger))
            backfill = instance.get_backfill(backfill_id)
            if backfill.status not in (BulkActionStatus.REQUESTED, BulkActionStatus.CANCELING):
                return backfill
            runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
            assert time.monotonic() < deadline, (
                f"backfill still {backfill.status}; runs {[(r.run_id[:8], r.status) for r in runs]}"
            )
            time.sleep(1)


def test_backfill_refetches_and_rebuilds_in_ceil_n_over_50_runs(tmp_path, monkeypatch):
    # No daemon dequeues runs here: launch what the backfill submits at once (run subprocesses).
    immediate = {
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "DefaultRunCoordinator",
        }
    }
    with running_stack(
        tmp_path / "data", instance_overrides=immediate, failure_rate=0.1, seed=31
    ) as stack:
        ids = stack.drive(SUBMISSIONS, assets_per_submission=(1, 2), duration_seconds=0.5)
        assert not stack.drain()[0].skipped
        with stack.analytics() as conn:
            before = conn.execute("SELECT count(*) FROM issues").fetchall()[0][0]

        # A reviewer resolves an issue; no webhook says so: only a re-fetch can see it.
        state = stack.sim.state
        asset = next(
            a for a in state.assets.values() if a.status == "complete" and a.results.issues
        )
        issue = asset.results.issues[0]
        issue_status = "RESOLVED" if issue["status"] != "RESOLVED" else "DISMISSED"
        for copy in (issue, *(i for i in asset.results.enriched if i["id"] == issue["id"])):
            copy["status"] = issue_status

        # The code server and the run subprocesses read the location's settings from here.
        for key, value in {
            "MMQ_DATA_DIR": str(stack.data_dir),
            "MMQ_API_BASE_URL": stack.sim.base_url,
            "MMQ_API_KEY": stack.sim.api_key,
            "MMQ_API_MAX_ATTEMPTS": "8",
            "MMQ_RECEIVER_URL": stack.receiver.url,
            "MMQ_FEED_TOKEN": stack.token,
        }.items():
            monkeypatch.setenv(key, value)
        backfill = run_backfill(stack, ids)

        assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS
        backfill_tag = {"dagster/backfill": backfill.backfill_id}
        runs = stack.instance.get_runs(dg.RunsFilter(tags=backfill_tag))
        assert len(runs) == math.ceil(len(ids) / BACKFILL_BATCH) == 2
        order = stack.instance.get_dynamic_partitions("submission")  # partition order
        covered = 0
        for run in runs:
            assert run.status == dg.DagsterRunStatus.SUCCESS, run.run_id
            start = run.tags["dagster/asset_partition_range_start"]
            end = run.tags["dagster/asset_partition_range_end"]
            size = order.index(end) - order.index(start) + 1
            assert 0 < size <= BACKFILL_BATCH
            covered += size
        assert covered == len(ids)

        with stack.analytics() as conn:
            assert_matches_truth(conn, stack.sim.state.ground_truth())
            after = conn.execute("SELECT count(*) FROM issues").fetchall()[0][0]
            status = conn.execute(
                "SELECT status FROM issues WHERE issue_id = ?", [issue["id"]]
            ).fetchall()
            steps = conn.execute(
                "SELECT DISTINCT step FROM loads WHERE run_id IN (SELECT unnest(?))",
                [[r.run_id for r in runs]],
            ).fetchall()
        assert after == before  # replaced, never duplicated
        assert status == [(issue_status,)]
        assert {"api_responses", "tables", "submission_quality"} <= {s[0] for s in steps}
        reports = list((stack.data_dir / "reports").glob("*.html"))
        assert {p.stem for p in reports} >= set(ids)
        # Each partition's materialization by the backfill carries its verdict and report link.
        backfill_runs = {r.run_id for r in runs}
        records = stack.instance.fetch_materializations(
            dg.AssetKey("submission_report"), limit=10_000
        ).records
        latest = {}
        for record in records:  # newest first
            latest.setdefault(record.partition_key, record)
        assert set(latest) >= set(ids)
        for sid in ids:
            record = latest[sid]
            assert record.run_id in backfill_runs, sid
            metadata = record.asset_materialization.metadata
            assert metadata["verdict"].value in {"blocked", "needs_review", "clear", "pending"}
