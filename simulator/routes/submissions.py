"""Submissions and assets: create, status, asset, issues, topics, retry."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from simulator.auth import Caller, caller_for
from simulator.errors import ApiProblem
from simulator.schemas import (
    AssetOut,
    CreatedOut,
    IssuesOut,
    SubmissionIn,
    SubmissionOut,
    TopicsOut,
    error_responses,
)
from simulator.state import Asset, Submission, now

router = APIRouter(tags=["submissions"])
AUTH_ERRORS = (401, 402, 429, 500, 502)
READ_ERRORS = error_responses(404, *AUTH_ERRORS)


def _created(sub: Submission, state, status: str = "submitted") -> dict:
    return {
        "submissionId": sub.submission_id,
        "workflowId": sub.workflow_id,
        "ablyChannel": f"submission:{sub.submission_id}",
        "status": status,
        "assets": [
            {
                "assetId": a.asset_id,
                "versionGroupId": a.version_group_id,
                "versionNumber": a.version_number,
            }
            for a in (state.assets[aid] for aid in sub.asset_ids)
        ],
    }


def _submission(request: Request, caller: Caller, sid: str) -> Submission:
    sub = request.app.state.sim.state.submissions.get(sid)
    if sub is None or sub.workspace_id != caller.workspace_id:
        raise ApiProblem(404, "Submission not found")
    return sub


def _asset(request: Request, caller: Caller, sid: str, aid: str) -> Asset:
    sub = _submission(request, caller, sid)
    if aid not in sub.asset_ids:
        raise ApiProblem(404, "Asset not found")
    return request.app.state.sim.state.assets[aid]


def _finished(asset: Asset) -> None:
    if asset.status == "failed":
        raise ApiProblem(404, "Asset processing failed; it has no results")
    if asset.status != "complete":
        raise ApiProblem(404, "Asset processing has not finished yet")


@router.post(
    "/submissions",
    status_code=201,
    response_model=CreatedOut,
    responses=error_responses(400, 403, 404, 409, 413, 415, *AUTH_ERRORS),
)
async def create_submission(
    body: SubmissionIn,
    request: Request,
    simulation_delay: Annotated[
        float | None, Query(alias="simulationDelaySeconds", ge=0, le=30)
    ] = None,
    caller: Caller = Depends(caller_for("submission_write")),
) -> dict:
    sim = request.app.state.sim
    state = sim.state
    if simulation_delay is not None and not caller.is_sandbox:
        raise ApiProblem(400, "simulationDelaySeconds is only allowed with sandbox (sk_test_) keys")
    blobs = []
    seen: set[str] = set()
    # Every check comes before any change, so a rejected request leaves no trace.
    for item in body.assets:
        blob = state.blobs.get(item.blob_path)
        if blob is None or blob.workspace_id != caller.workspace_id or blob.size is None:
            raise ApiProblem(403, f"Invalid blob path: {item.blob_path}")
        if blob.submitted or item.blob_path in seen:
            raise ApiProblem(409, f"Asset already submitted: {item.blob_path}")
        seen.add(item.blob_path)
        previous = None
        if item.previous_submission_id is not None:
            previous = state.submissions.get(str(item.previous_submission_id))
            if previous is None or previous.workspace_id != caller.workspace_id:
                raise ApiProblem(404, "Previous submission not found")
        blobs.append((blob, previous))
    sid = str(uuid.uuid4())
    created = now()
    assets = []
    for blob, previous in blobs:
        group, version = str(uuid.uuid4()), 1
        if previous is not None:
            prior = [state.assets[a] for a in previous.asset_ids]
            match = next((a for a in prior if a.filename == blob.filename), None)
            if match is not None:
                group, version = match.version_group_id, match.version_number + 1
        blob.submitted = True
        asset = Asset(
            asset_id=str(uuid.uuid4()),
            submission_id=sid,
            workspace_id=caller.workspace_id,
            filename=blob.filename,
            mime_type=blob.content_type,
            blob_path=blob.path,
            version_group_id=group,
            version_number=version,
            created_at=created,
        )
        state.assets[asset.asset_id] = asset
        assets.append(asset)
    sub = Submission(
        submission_id=sid,
        workspace_id=caller.workspace_id,
        workflow_id=f"asset-processing-{uuid.uuid4()}",
        created_at=created,
        asset_ids=[a.asset_id for a in assets],
        metadata=body.metadata,
        sidekick_ids=[str(s) for s in body.sidekick_ids or []],
    )
    state.submissions[sid] = sub
    for asset in assets:
        sim.engine.start_processing(asset, simulation_delay)
    return _created(sub, state)


@router.get("/submissions/{submission_id}", response_model=SubmissionOut, responses=READ_ERRORS)
async def get_submission(
    submission_id: str, request: Request, caller: Caller = Depends(caller_for("submission_read"))
) -> dict:
    sub = _submission(request, caller, submission_id)
    return request.app.state.sim.state.submission_status(sub)


@router.get(
    "/submissions/{submission_id}/assets/{asset_id}", response_model=AssetOut, responses=READ_ERRORS
)
async def get_asset(
    submission_id: str,
    asset_id: str,
    request: Request,
    caller: Caller = Depends(caller_for("submission_read")),
) -> dict:
    asset = _asset(request, caller, submission_id, asset_id)
    complete = asset.status == "complete"
    return {
        "assetId": asset.asset_id,
        "submissionId": asset.submission_id,
        "filename": asset.filename,
        "mimeType": asset.mime_type,
        "status": asset.status,
        "issueCount": asset.issue_count,
        "versionNumber": asset.version_number,
        "versionGroupId": asset.version_group_id,
        "issues": asset.results.issues if complete else [],
    }


@router.get(
    "/submissions/{submission_id}/assets/{asset_id}/issues",
    response_model=IssuesOut,
    responses=READ_ERRORS,
)
async def get_issues(
    submission_id: str,
    asset_id: str,
    request: Request,
    caller: Caller = Depends(caller_for("submission_read")),
) -> dict:
    asset = _asset(request, caller, submission_id, asset_id)
    _finished(asset)
    return {
        "assetId": asset.asset_id,
        "submissionId": asset.submission_id,
        "issues": asset.results.enriched_issues(),
    }


@router.get(
    "/submissions/{submission_id}/assets/{asset_id}/topics",
    response_model=TopicsOut,
    responses=READ_ERRORS,
)
async def get_topics(
    submission_id: str,
    asset_id: str,
    request: Request,
    caller: Caller = Depends(caller_for("submission_read")),
) -> dict:
    asset = _asset(request, caller, submission_id, asset_id)
    _finished(asset)
    results = asset.results
    return {
        "assetId": asset.asset_id,
        "topics": results.topics,
        "orphanIssues": results.orphan_issues,
        "metadata": results.metadata,
    }


@router.post(
    "/submissions/{submission_id}/assets/{asset_id}/retry",
    status_code=202,
    response_model=CreatedOut,
    responses=error_responses(404, 409, *AUTH_ERRORS),
)
async def retry_asset(
    submission_id: str,
    asset_id: str,
    request: Request,
    caller: Caller = Depends(caller_for("submission_write")),
) -> dict:
    sim = request.app.state.sim
    asset = _asset(request, caller, submission_id, asset_id)
    if asset.asset_id in sim.state.retries_in_flight:
        raise ApiProblem(409, "A retry is already in flight for this asset")
    if asset.status != "failed":
        raise ApiProblem(409, "Only failed assets can be retried")
    if not asset.is_retryable:
        raise ApiProblem(409, "This asset's error is not retryable")
    if asset.retry_count >= sim.config.retry_cap:
        raise ApiProblem(409, f"Retry limit of {sim.config.retry_cap} reached")
    asset.retry_count += 1
    asset.status = "processing"
    asset.error_message = asset.error_type = None
    asset.is_retryable = False
    asset.completed_at = None
    sim.state.retries_in_flight.add(asset.asset_id)
    sim.engine.start_processing(asset)
    # The create-response shape, with the status the submission has gone back to.
    return _created(sim.state.submissions[submission_id], sim.state, "processing")
