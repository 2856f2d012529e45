"""The whole code location loads as Dagster loads it, and declares what the deployment needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.run_request import InstigatorType  # not re-exported
from dagster._core.scheduler.instigation import TickStatus

from pipelines.partitions import BACKFILL_BATCH, WAREHOUSE_POOL

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
FLAT_TABLES = {
    "submissions",
    "assets",
    "issues",
    "issue_precedents",
    "topics",
    "topic_issues",
    "asset_failures",
}
# Only the report is partitioned (UI backfills); the sensor's ingest chain is not.
PARTITIONED = {"submission_report"}
INGEST = FLAT_TABLES | {
    "webhook_events",
    "api_responses",
    "pending_fetches",
    "submission_quality",
    "analytics_snapshot",
    "quality_reports",
}
CHECKS = {
    ("issues", "issue_count_matches_event"),
    ("topic_issues", "issues_in_exactly_one_topic_or_orphans"),
    ("issues", "no_duplicate_keys"),
    ("issues", "enums_valid"),
    ("pending_fetches", "pending_not_older_than_threshold"),
}


def location_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MMQ_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        MMQ_DATA_DIR=str(tmp_path / "data"),
        MMQ_API_BASE_URL="http://127.0.0.1:9",
        MMQ_RECEIVER_URL="http://127.0.0.1:9",
    )
    return env


def test_workspace_loads_and_validates_with_the_dagster_cli(tmp_path):
    # Exactly what `dagster dev -w workspace.yaml` does first: load every location it names.
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=ROOT,
        env=location_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=150,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "mmq" in output
    assert "Validation successful" in output or "successfully" in output.lower(), output


@pytest.fixture
def defs(tmp_path, monkeypatch) -> dg.Definitions:
    for key, value in location_env(tmp_path).items():
        if key.startswith(("MMQ_", "DAGSTER_HOME")):
            monkeypatch.setenv(key, value)
    from pipelines import definitions

    # The module-level `defs` the workspace names, rebuilt under this test's settings.
    loaded = definitions.make_definitions(definitions.build_resources())
    dg.Definitions.validate_loadable(loaded)
    assert isinstance(definitions.defs, dg.Definitions)
    return loaded


def test_jobs_sensor_and_schedule(defs):
    repo = defs.get_repository_def()
    jobs = {j.name for j in repo.get_all_jobs() if not j.name.startswith("__")}
    assert jobs == {"ingest_job", "submission_reports_job", "daily_quality_job"}
    (sensor,) = repo.sensor_defs
    assert sensor.name == "receiver_feed_sensor"
    assert sensor.job_name == "ingest_job"
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.required_resource_keys == {"receiver"}  # never the API or the warehouse
    (schedule,) = repo.schedule_defs
    assert schedule.job_name == "daily_quality_job"
    assert schedule.cron_schedule == "15 0 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    daily_job = repo.get_job("daily_quality_job")
    daily = {k.to_user_string() for k in daily_job.asset_layer.executable_asset_keys}
    assert {"daily_quality", "analytics_snapshot", "daily_digest"} <= daily
    reports_job = repo.get_job("submission_reports_job")
    assert {k.to_user_string() for k in reports_job.asset_layer.executable_asset_keys} == {
        "submission_report"
    }


def test_partitions_backfill_policy_and_pool(defs):
    graph = defs.get_repository_def().asset_graph
    keys = {k.to_user_string(): k for k in graph.get_all_asset_keys()}
    assert set(keys) >= PARTITIONED | INGEST
    for name, key in keys.items():
        node = graph.get(key)
        # Every asset writes warehouse.duckdb or reads the published copy after a write.
        assert node.pools == {WAREHOUSE_POOL}, name
        if name in PARTITIONED:
            assert isinstance(node.partitions_def, dg.DynamicPartitionsDefinition), name
            assert node.partitions_def.name == "submission"
            assert node.backfill_policy.max_partitions_per_run == BACKFILL_BATCH, name
        else:
            assert node.partitions_def is None, name
    ingest = defs.get_repository_def().get_job("ingest_job")
    assert {k.to_user_string() for k in ingest.asset_layer.executable_asset_keys} == INGEST
    assert ingest.partitions_def is None


def test_asset_checks(defs):
    graph = defs.get_repository_def().asset_graph
    declared = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert declared == CHECKS


def test_secrets_are_env_vars_not_values(defs, monkeypatch):
    monkeypatch.setenv("MMQ_API_KEY", "sk_test_" + "a" * 64)
    resources = defs.resources
    for name, field in (("api", "api_key"), ("receiver", "token")):
        value = getattr(resources[name], field)
        assert isinstance(value, dg.EnvVar), (name, field)


def test_instance_template_sizes_the_queue_and_the_warehouse_pool(tmp_path):
    home = Path(location_env(tmp_path)["DAGSTER_HOME"])
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        # What the daemon's queue reads (the `concurrency:` section wins over defaults).
        config = instance.get_concurrency_config()
        assert config.run_queue_config.max_concurrent_runs == 2
        limits = config.run_queue_config.tag_concurrency_limits
        assert {"key": "dagster/backfill", "limit": 1} in limits
        assert config.pool_config.default_pool_limit == 1
        # The slot is held per step: the next run starts up while the previous one finishes.
        assert str(config.pool_config.pool_granularity).lower().endswith("op")
        assert config.run_queue_config.should_block_op_concurrency_limited_runs
        # ...and the queue launches one run while a step holds the slot (else it waits queued).
        assert config.run_queue_config.op_concurrency_slot_buffer == 1
        assert instance.run_coordinator.dequeue_interval_seconds == 1
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 60
        retention = instance.get_tick_retention_settings(InstigatorType.SENSOR)
        assert retention[TickStatus.SKIPPED] == 1
