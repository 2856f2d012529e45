"""Fetches that keep failing stay on the pending list, are retried by later ticks, and either
resolve or are given up with a reason; nothing disappears silently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import pytest

from mmq.warehouse.fetch import Response, SubmissionFetch
from mmq.warehouse.pending import Backoff, record_outcomes
from mmq.warehouse.schema import create_all
from simulator.config import EndpointFaults, FaultProfile
from tests.pipeline.stack import running_stack

pytestmark = pytest.mark.timeout(180)


def pending_rows(stack) -> list[tuple]:
    with stack.analytics() as conn:
        return conn.sql(
            "SELECT asset_id, state, reason, attempts FROM pending_fetches ORDER BY asset_id"
        ).fetchall()


def test_failed_fetches_are_retried_until_resolved(tmp_path, monkeypatch):
    monkeypatch.setenv("MMQ_PENDING_BACKOFF_SECONDS", "0.01")
    faults = FaultProfile(endpoints={"GET /topics": EndpointFaults(rate_502=1.0)})
    with running_stack(tmp_path, faults=faults, failure_rate=0.0, seed=21) as stack:
        stack.drive(2)
        first = stack.tick()
        assert first.runs[0].success
        rows = pending_rows(stack)
        assets = {a.asset_id for a in stack.sim.state.assets.values()}
        assert {r[0] for r in rows} == assets
        assert {r[1:] for r in rows} == {("pending", "api_error", 1)}
        with stack.analytics() as conn:
            states = conn.sql("SELECT DISTINCT results_state FROM assets").fetchall()
            issues = conn.sql("SELECT count(*) FROM issues").fetchall()[0][0]
        assert states == [("pending",)] and issues == 0
        pending_meta = (
            stack.instance.fetch_materializations(dg.AssetKey("pending_fetches"), limit=1)
            .records[0]
            .asset_materialization.metadata
        )
        assert pending_meta["pending"].value == len(assets)

        # The API recovers; the next tick retries the due submissions without any new event.
        stack.sim.sim.config.faults.endpoints.clear()
        retry = stack.tick()
        assert not retry.skipped and retry.runs[0].success
        assert retry.runs[0].dagster_run.tags["dagster/run_key"].startswith("retry:")
        retried = retry.runs[0].dagster_run.run_config["ops"]["api_responses"]["config"]
        assert set(retried["retry_submissions"]) == {
            a.submission_id for a in stack.sim.state.assets.values()
        }
        assert {r[1] for r in pending_rows(stack)} == {"resolved"}
        with stack.analytics() as conn:
            states = conn.sql("SELECT DISTINCT results_state FROM assets").fetchall()
            issues = conn.sql("SELECT count(*) FROM issues").fetchall()[0][0]
        expected = sum(len(a.results.issues) for a in stack.sim.state.assets.values())
        assert states == [("fetched",)] and issues == expected
        assert stack.tick().skipped


def test_fetches_that_never_succeed_are_given_up_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("MMQ_PENDING_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("MMQ_PENDING_MAX_ATTEMPTS", "2")
    faults = FaultProfile(endpoints={"GET /issues": EndpointFaults(rate_500=1.0)})
    with running_stack(tmp_path, faults=faults, failure_rate=0.0, seed=22) as stack:
        stack.drive(1)
        stack.tick()
        assert {r[1] for r in pending_rows(stack)} == {"pending"}
        stack.tick()
        rows = pending_rows(stack)
        assert {r[1:] for r in rows} == {("given_up", "api_error", 2)}
        with stack.analytics() as conn:
            errors = conn.sql("SELECT DISTINCT last_error FROM pending_fetches").fetchall()
        assert all("500" in e[0] for e in errors)
        assert stack.tick().skipped  # given up: no more retries


def test_a_given_up_fetch_that_later_succeeds_is_resolved():
    """A backfill or a new event may fetch what was given up; the list then says so. Only a
    real success ends it: an asset merely no longer complete stays given up."""
    now = datetime.now(UTC)
    conn = duckdb.connect()
    try:
        create_all(conn)
        for asset_id in ("ast_fetched", "ast_reprocessing"):
            conn.execute(
                "INSERT INTO pending_fetches (submission_id, asset_id, state, reason, attempts, "
                "first_seen_at, last_attempt_at, resolved_at, _load_id) "
                "VALUES ('sub_1', ?, 'given_up', 'api_error', 8, ?, ?, ?, 'l0')",
                [asset_id, now - timedelta(days=1), now - timedelta(hours=1), now],
            )
        status = {"assets": [{"assetId": "ast_fetched", "status": "completed"}]}
        fetch = SubmissionFetch(
            "sub_1",
            responses=[Response("submission", "sub_1", "", status, now)],
            succeeded={"", "ast_fetched"},
        )
        counts = record_outcomes(conn, [fetch], now=now, load_id="l1", backoff=Backoff())
        assert counts["resolved"] == 1
        rows = conn.execute(
            "SELECT asset_id, state, _load_id FROM pending_fetches ORDER BY asset_id"
        ).fetchall()
        assert rows == [("ast_fetched", "resolved", "l1"), ("ast_reprocessing", "given_up", "l0")]
    finally:
        conn.close()
