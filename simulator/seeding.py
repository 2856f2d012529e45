"""Bulk seeding: N finished submissions written straight into the simulator's state.

Benchmarks and demos need the contract's scale (10,000 submissions / 50,000 assets) without
replaying ~110,000 upload and create requests. Seeded submissions look like old, settled work:
every asset is already ``complete`` or ``failed`` (the same seeded outcome as live processing),
and no webhook fires for them. Ids derive from the key's workspace and an index, so a separate
load process can address them without a listing endpoint.
"""

from __future__ import annotations

import uuid

from simulator.config import SimulatorConfig
from simulator.driver import FILES
from simulator.results import outcome
from simulator.state import Asset, Blob, SimulatorState, Submission, now, workspace_for_key

SEED_NAMESPACE = uuid.UUID("0b7a4c1e-5d2f-4a83-9e61-3c8d2f7b1a90")


def seeded_submission_id(api_key: str, index: int) -> str:
    return str(uuid.uuid5(SEED_NAMESPACE, f"{workspace_for_key(api_key)}/s/{index}"))


def seeded_asset_id(api_key: str, index: int, position: int) -> str:
    return str(uuid.uuid5(SEED_NAMESPACE, f"{workspace_for_key(api_key)}/a/{index}/{position}"))


def seed_finished_submissions(
    state: SimulatorState,
    config: SimulatorConfig,
    api_key: str,
    submissions: int,
    assets_per_submission: int = 5,
) -> int:
    """Add ``submissions`` settled submissions to ``api_key``'s workspace; returns assets added.

    Call before the server starts (or while it is idle): it mutates the state without the loop.
    """
    workspace = workspace_for_key(api_key)
    created = now()
    added = 0
    for index in range(submissions):
        sid = seeded_submission_id(api_key, index)
        asset_ids = []
        for position in range(assets_per_submission):
            pattern, content_type = FILES[(index + position) % len(FILES)]
            filename = pattern.format(n=f"seed-{index}-{position}")
            path = f"{workspace}/{filename}"
            state.blobs[path] = Blob(path, workspace, filename, content_type, 1024, True)
            aid = seeded_asset_id(api_key, index, position)
            failed, retryable, message, error_type = outcome(
                aid, 0, config.failure_rate, config.retryable_share
            )
            state.assets[aid] = Asset(
                asset_id=aid,
                submission_id=sid,
                workspace_id=workspace,
                filename=filename,
                mime_type=content_type,
                blob_path=path,
                version_group_id=str(uuid.uuid5(SEED_NAMESPACE, f"{aid}/group")),
                version_number=1,
                created_at=created,
                status="failed" if failed else "complete",
                error_message=message,
                error_type=error_type,
                is_retryable=retryable,
                completed_at=created,
            )
            asset_ids.append(aid)
        state.submissions[sid] = Submission(
            submission_id=sid,
            workspace_id=workspace,
            workflow_id=f"asset-processing-{uuid.uuid5(SEED_NAMESPACE, sid)}",
            created_at=created,
            asset_ids=asset_ids,
            metadata={"seeded": True},
        )
        added += len(asset_ids)
    return added
