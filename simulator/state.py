"""The simulator's in-memory world: workspaces, blobs, submissions, assets, subscriptions.

Plain dataclasses with slots keep 50,000 assets in a few tens of MB. Review results are not
stored: they are a pure function of the asset (``simulator.results``), regenerated on demand
behind a bounded LRU cache, because holding them for every asset would cost ~14 KB each.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from simulator.results import AssetResults, cached_asset_results, issue_count_for

NAMESPACE = uuid.UUID("6f1d3c2a-9b7e-4e0f-8a51-2f6c7d9e0b14")
TERMINAL = ("complete", "failed")


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def workspace_for_key(key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, key))


@dataclass(slots=True)
class Blob:
    path: str
    workspace_id: str
    filename: str
    content_type: str
    size: int | None = None  # None until the presigned PUT arrived
    submitted: bool = False


@dataclass(slots=True)
class Asset:
    asset_id: str
    submission_id: str
    workspace_id: str
    filename: str
    mime_type: str
    blob_path: str
    version_group_id: str
    version_number: int
    created_at: datetime
    status: str = "submitted"
    retry_count: int = 0
    error_message: str | None = None
    error_type: str | None = None
    is_retryable: bool = False
    completed_at: datetime | None = None

    @property
    def results(self) -> AssetResults:
        return cached_asset_results(
            self.asset_id, self.submission_id, self.filename, self.created_at
        )

    @property
    def issue_count(self) -> int | None:
        return issue_count_for(self.asset_id) if self.status == "complete" else None

    def summary(self) -> dict:
        return {
            "assetId": self.asset_id,
            "versionGroupId": self.version_group_id,
            "versionNumber": self.version_number,
            "status": self.status,
            "filename": self.filename,
            "issueCount": self.issue_count,
            "errorMessage": self.error_message,
            "errorType": self.error_type,
            "isRetryable": self.is_retryable,
            "retryCount": self.retry_count,
        }


@dataclass(slots=True)
class Submission:
    submission_id: str
    workspace_id: str
    workflow_id: str
    created_at: datetime
    asset_ids: list[str]
    metadata: dict | None = None
    sidekick_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Subscription:
    id: str
    workspace_id: str
    endpoint_url: str
    event_types: list[str]
    description: str | None
    secret: str
    enabled: bool = True
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    attempts: list[dict] = field(default_factory=list)

    def public(self) -> dict:
        return {
            "id": self.id,
            "workspaceId": self.workspace_id,
            "endpointUrl": self.endpoint_url,
            "eventTypes": self.event_types,
            "description": self.description,
            "enabled": self.enabled,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


class SimulatorState:
    def __init__(self) -> None:
        self.blobs: dict[str, Blob] = {}
        # presigned token → (blob path, monotonic expiry)
        self.upload_tokens: dict[str, tuple[str, float]] = {}
        self.submissions: dict[str, Submission] = {}
        self.assets: dict[str, Asset] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.retries_in_flight: set[str] = set()

    def submission_status(self, sub: Submission) -> dict:
        assets = [self.assets[a] for a in sub.asset_ids]
        statuses = [a.status for a in assets]
        if all(s in TERMINAL for s in statuses):
            status = "failed" if "failed" in statuses else "complete"
        elif any(s != "submitted" for s in statuses):
            status = "processing"
        else:
            status = "submitted"
        done = sum(s in TERMINAL for s in statuses)
        failed = [a for a in assets if a.status == "failed"]
        completed_at = (
            max(a.completed_at for a in assets) if status in TERMINAL else None  # type: ignore[type-var]
        )
        return {
            "submissionId": sub.submission_id,
            "workflowId": sub.workflow_id,
            "workspaceId": sub.workspace_id,
            "status": status,
            "progressPercent": round(100 * done / len(assets)),
            "createdAt": iso(sub.created_at),
            "completedAt": iso(completed_at),
            "errorMessage": failed[0].error_message if failed else None,
            "isRetryable": any(a.is_retryable for a in failed),
            "assets": [a.summary() for a in assets],
        }

    def ground_truth(self) -> dict:
        """What the pipeline should end up with, per submission and asset (for tests).

        Safe to call from another thread while the simulator runs: it iterates over copies.
        """
        out: dict = {"submissions": {}}
        for sub in list(self.submissions.values()):
            assets = {}
            for aid in list(sub.asset_ids):
                asset = self.assets[aid]
                complete = asset.status == "complete"
                res = asset.results if complete else None
                assets[aid] = {
                    "status": asset.status,
                    "issue_count": asset.issue_count,
                    "severity_counts": dict(Counter(i["severity"] for i in res.issues))
                    if res
                    else {},
                    "status_counts": dict(Counter(i["status"] for i in res.issues)) if res else {},
                    "topic_count": len(res.topics) if res else 0,
                    "orphan_count": len(res.orphan_issues) if res else 0,
                    "error_message": asset.error_message,
                }
            out["submissions"][sub.submission_id] = {
                "workspace_id": sub.workspace_id,
                "status": self.submission_status(sub)["status"],
                "assets": assets,
            }
        return out
