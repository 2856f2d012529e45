"""Each asset check passes on good data and fails on deliberately broken data.

The data is a copy of the session's real sample warehouse (simulator → receiver → steps); each
test breaks one thing in its own copy, then runs the checks as plain functions and, for two of
them, through the Dagster assets that report them.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import pytest

from mmq.warehouse import checks
from pipelines.assets import pending_fetches, submission_tables
from pipelines.resources import WarehouseResource

pytestmark = pytest.mark.timeout(180)

# name → SQL that breaks exactly what the check guards (one row of the sample's data).
BREAKAGES = {
    "issue_count_matches_event": """
        UPDATE assets SET fetched_issue_count = fetched_issue_count + 1
        WHERE asset_id = (SELECT min(asset_id) FROM assets
                          WHERE results_state = 'fetched' AND event_issue_count IS NOT NULL)
    """,
    "issues_in_exactly_one_topic_or_orphans": """
        UPDATE issues SET is_orphan = true
        WHERE issue_id = (SELECT min(issue_id) FROM topic_issues)
    """,
    "no_duplicate_keys": """
        UPDATE issues SET reference_number = 1
        WHERE issue_id = (SELECT min(issue_id) FROM issues WHERE reference_number = 2)
    """,
    "enums_valid": """
        UPDATE issues SET severity = 'CATASTROPHIC'
        WHERE issue_id = (SELECT min(issue_id) FROM issues)
    """,
}


@pytest.fixture
def warehouse(sample_warehouse, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(sample_warehouse.warehouse_path, data_dir / "warehouse.duckdb")
    return WarehouseResource(data_dir=str(data_dir))


def outcomes(conn: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, int]:
    return {o.name: o.failures for o in checks.run_checks(conn, ids)}


def test_every_check_passes_on_the_sample(warehouse, sample_warehouse):
    with warehouse.connect() as conn:
        assert conn.execute("SELECT count(*) FROM topic_issues").fetchall()[0][0] > 0
        assert outcomes(conn, sample_warehouse.submission_ids) == dict.fromkeys(BREAKAGES, 0)
        age = checks.pending_age_check(conn, now=datetime.now(UTC), threshold_seconds=3600)
    assert age.passed


@pytest.mark.parametrize("broken", list(BREAKAGES))
def test_each_check_fails_on_what_it_guards(warehouse, sample_warehouse, broken):
    with warehouse.connect() as conn:
        assert conn.execute(BREAKAGES[broken]).fetchall() == [(1,)]  # one row changed
        results = checks.run_checks(conn, sample_warehouse.submission_ids)
    failures = {o.name: o.failures for o in results}
    assert failures[broken] >= 1, failures
    assert {n for n, f in failures.items() if f} == {broken}
    assert next(o for o in results if o.name == broken).examples


def test_checks_judge_only_the_submissions_in_scope(warehouse, sample_warehouse):
    ids = sample_warehouse.submission_ids
    with warehouse.connect() as conn:
        victim = conn.execute("SELECT submission_id FROM issues ORDER BY issue_id").fetchall()[0]
        conn.execute(BREAKAGES["enums_valid"])
        others = [s for s in ids if s != victim[0]]
        assert outcomes(conn, others)["enums_valid"] == 0
        assert outcomes(conn, [victim[0]])["enums_valid"] == 1


def test_pending_age_check_flags_only_old_pending_fetches(warehouse):
    now = datetime.now(UTC)
    rows = [
        ("sub_old", "ast_old", "pending", now - timedelta(hours=2)),
        ("sub_new", "ast_new", "pending", now - timedelta(minutes=5)),
        ("sub_gone", "ast_gone", "given_up", now - timedelta(days=2)),
    ]
    with warehouse.connect() as conn:
        for sid, aid, state, first_seen in rows:
            conn.execute(
                "INSERT INTO pending_fetches (submission_id, asset_id, state, reason, attempts, "
                "first_seen_at, last_attempt_at, _load_id) "
                "VALUES (?, ?, ?, 'not_ready', 1, ?, ?, 'l')",
                [sid, aid, state, first_seen, first_seen],
            )
        outcome = checks.pending_age_check(conn, now=now, threshold_seconds=3600)
        relaxed = checks.pending_age_check(conn, now=now, threshold_seconds=3 * 3600)
    assert outcome.failures == 1 and outcome.examples == [("sub_old", "ast_old", "not_ready")]
    assert relaxed.passed


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_dagster_reports_a_broken_api_response_as_a_failed_check(warehouse, sample_warehouse):
    """Corrupt the raw response (as an API change would); the asset re-flattens it and its
    checks report the bad enum, at WARN severity, while the others pass."""
    with warehouse.connect() as conn:
        sid, aid, body = conn.execute(
            "SELECT submission_id, asset_id, body FROM api_responses "
            "WHERE kind = 'issues' AND json_array_length(body -> '$.issues') > 0 "
            "ORDER BY asset_id LIMIT 1"
        ).fetchall()[0]
        issues = json.loads(body)
        issues["issues"][0]["severity"] = "CATASTROPHIC"
        conn.execute(
            "UPDATE api_responses SET body = ? WHERE kind = 'issues' AND asset_id = ?",
            [json.dumps(issues), aid],
        )
    # The run's scope: no feed range, just this submission (as a due retry would be).
    scope = {"after_seq": 0, "until_seq": 0, "retry_submissions": [sid]}
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [submission_tables],
            instance=instance,
            run_config={"ops": {"submission_tables": {"config": scope}}},
            resources={"warehouse": warehouse},
        )
        assert result.success
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["enums_valid"].passed
    assert evaluations["enums_valid"].severity == dg.AssetCheckSeverity.WARN
    assert evaluations["enums_valid"].metadata["failures"].value == 1
    assert {n for n, e in evaluations.items() if e.passed} == set(BREAKAGES) - {"enums_valid"}


def test_dagster_pending_check_passes_then_fails_on_an_old_pending_fetch(warehouse, monkeypatch):
    monkeypatch.setenv("MMQ_PENDING_ALERT_SECONDS", "600")
    with dg.instance_for_test() as instance:
        fresh = dg.materialize(
            [pending_fetches], instance=instance, resources={"warehouse": warehouse}
        )
        with warehouse.connect() as conn:
            old = datetime.now(UTC) - timedelta(hours=1)
            conn.execute(
                "INSERT INTO pending_fetches (submission_id, asset_id, state, reason, attempts, "
                "first_seen_at, last_attempt_at, next_attempt_at, _load_id) "
                "VALUES ('sub_x', 'ast_x', 'pending', 'api_error', 3, ?, ?, ?, 'l')",
                [old, old, old],
            )
        stale = dg.materialize(
            [pending_fetches], instance=instance, resources={"warehouse": warehouse}
        )
    assert check_results(fresh) == {checks.PENDING_AGE_CHECK: True}
    assert check_results(stale) == {checks.PENDING_AGE_CHECK: False}
