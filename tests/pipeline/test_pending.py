"""Fetches that keep failing stay on the pending list, are retried by later ticks, and either
resolve or are given up with a reason; nothing disappears silently."""

from __future__ import annotations

import dagster as dg
import pytest

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
