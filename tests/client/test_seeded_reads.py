"""Bulk-seeded submissions (the benchmark's data) read back through the client like live ones."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner

from mmq.cli import app as mmq_app
from mmq.client import AsyncMediaMagicClient, NotFound
from simulator.seeding import (
    seed_finished_submissions,
    seeded_asset_id,
    seeded_submission_id,
)
from simulator.testing import new_key, running_simulator


def test_seeded_submissions_are_settled_and_addressable_by_index():
    key, other = new_key(), new_key()
    with running_simulator(api_keys=[key, other], failure_rate=0.3) as sim:
        added = seed_finished_submissions(sim.state, sim.sim.config, key, 40, 3)
        assert added == 120

        async def scenario():
            async with AsyncMediaMagicClient(sim.base_url, key) as client:
                statuses = [
                    await client.get_submission(seeded_submission_id(key, i)) for i in range(40)
                ]
                for i, status in enumerate(statuses):
                    assert [a.asset_id for a in status.assets] == [
                        seeded_asset_id(key, i, k) for k in range(3)
                    ]
                    assert status.progress_percent == 100
                    assert status.status == (
                        "failed" if any(a.status == "failed" for a in status.assets) else "complete"
                    )
                kinds = {a.status for s in statuses for a in s.assets}
                assert kinds == {"complete", "failed"}  # failure_rate applies to seeded work too
                done = next(a for s in statuses for a in s.assets if a.status == "complete")
                sid = next(s.submission_id for s in statuses if done in s.assets)
                issues = await client.get_asset_issues(sid, done.asset_id)
                assert len(issues.issues) == done.issue_count
            # Seeded into the first key's workspace only.
            async with AsyncMediaMagicClient(sim.base_url, other, max_attempts=1) as stranger:
                try:
                    await stranger.get_submission(seeded_submission_id(key, 0))
                except NotFound:
                    return
                raise AssertionError("another workspace must not see seeded submissions")

        asyncio.run(scenario())


def test_seed_options_are_validated():
    result = CliRunner().invoke(mmq_app, ["simulator", "--seed-submissions", "-1"])
    assert result.exit_code == 2
