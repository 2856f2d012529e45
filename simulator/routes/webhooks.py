"""Webhook subscriptions, their delivery attempts, the sandbox fire and the webhook test."""

from __future__ import annotations

import asyncio
import base64
import secrets
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from simulator.auth import Caller, caller_for
from simulator.errors import ApiProblem, validation_problem
from simulator.state import Subscription, now, workspace_for_key

router = APIRouter()
health_router = APIRouter(tags=["health"])  # served without the API prefix
EventType = Literal["asset.processing.completed", "asset.processing.failed"]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    endpoint_url: str = Field(alias="endpointUrl", min_length=1, max_length=2083)
    event_types: list[EventType] = Field(alias="eventTypes", min_length=1)
    description: str | None = Field(None, max_length=500)


class SubscriptionPatch(BaseModel):
    enabled: bool


class FireIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    event_type: EventType = Field(alias="eventType")
    submission_id: uuid.UUID = Field(alias="submissionId")
    error_message: str | None = Field(None, alias="errorMessage", max_length=2000)


class WebhookTestIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    endpoint_url: str = Field(alias="endpointUrl", min_length=1, max_length=2083)
    secret: str = Field(pattern=r"^whsec_[A-Za-z0-9+/=]{16,}$")


def _check_endpoint(request: Request, url: str) -> None:
    allow_http = request.app.state.sim.config.allow_insecure_endpoints
    if url.startswith("https://") or (allow_http and url.startswith("http://")):
        return
    raise validation_problem("endpointUrl", "endpointUrl must be an https:// URL")


def _owned(request: Request, caller: Caller, subscription_id: str) -> Subscription:
    sub = request.app.state.sim.state.subscriptions.get(subscription_id)
    if sub is None:
        raise ApiProblem(404, "Subscription not found")
    if sub.workspace_id != caller.workspace_id:
        raise ApiProblem(403, "Subscription belongs to another workspace")
    return sub


@router.post("/webhooks/subscriptions", status_code=201)
def create_subscription(
    body: SubscriptionIn, request: Request, caller: Caller = Depends(caller_for("webhook_write"))
) -> dict:
    sim = request.app.state.sim
    _check_endpoint(request, body.endpoint_url)
    mine = [s for s in sim.state.subscriptions.values() if s.workspace_id == caller.workspace_id]
    if len(mine) >= sim.config.subscription_limit:
        raise validation_problem(
            "endpointUrl", f"Workspace subscription limit ({sim.config.subscription_limit}) reached"
        )
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    sub = Subscription(
        id=str(uuid.uuid4()),
        workspace_id=caller.workspace_id,
        endpoint_url=body.endpoint_url,
        event_types=list(dict.fromkeys(body.event_types)),
        description=body.description,
        secret=secret,
    )
    sim.state.subscriptions[sub.id] = sub
    return {**sub.public(), "secret": secret}  # the only time the secret is shown


@router.get("/webhooks/subscriptions")
def list_subscriptions(
    request: Request,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=100)] = 10,
    caller: Caller = Depends(caller_for("webhook_read")),
) -> dict:
    mine = [
        s.public()
        for s in request.app.state.sim.state.subscriptions.values()
        if s.workspace_id == caller.workspace_id
    ]
    total = len(mine)
    start = (page - 1) * page_size
    return {
        "items": mine[start : start + page_size],
        "page": page,
        "pageSize": page_size,
        "total": total,
        "totalPages": (total + page_size - 1) // page_size,
    }


@router.get("/webhooks/subscriptions/{subscription_id}")
def get_subscription(
    subscription_id: str, request: Request, caller: Caller = Depends(caller_for("webhook_read"))
) -> dict:
    return _owned(request, caller, subscription_id).public()


@router.patch("/webhooks/subscriptions/{subscription_id}")
def patch_subscription(
    subscription_id: str,
    body: SubscriptionPatch,
    request: Request,
    caller: Caller = Depends(caller_for("webhook_write")),
) -> dict:
    sub = _owned(request, caller, subscription_id)
    sub.enabled = body.enabled
    sub.updated_at = now()
    return sub.public()


@router.delete("/webhooks/subscriptions/{subscription_id}", status_code=204)
def delete_subscription(
    subscription_id: str, request: Request, caller: Caller = Depends(caller_for("webhook_write"))
) -> Response:
    _owned(request, caller, subscription_id)
    del request.app.state.sim.state.subscriptions[subscription_id]
    return Response(status_code=204)


@router.get("/webhooks/subscriptions/{subscription_id}/deliveries")
def list_deliveries(
    subscription_id: str,
    request: Request,
    status_filter: Annotated[Literal["SUCCESSFUL", "FAILED"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    caller: Caller = Depends(caller_for("webhook_read")),
) -> dict:
    sub = _owned(request, caller, subscription_id)
    attempts = [a for a in reversed(sub.attempts) if status_filter in (None, a["status"])]
    attempts = attempts[:limit]
    return {"attempts": attempts, "total": len(attempts)}


@router.post("/sandbox/events/fire")
def fire_event(
    body: FireIn, request: Request, caller: Caller = Depends(caller_for("sandbox"))
) -> dict:
    if not caller.is_sandbox:
        raise ApiProblem(403, "Sandbox endpoints require a sandbox (sk_test_) key")
    sim = request.app.state.sim
    sub = sim.state.submissions.get(str(body.submission_id))
    if sub is None or sub.workspace_id != caller.workspace_id:
        raise ApiProblem(404, "Submission not found")
    message = body.error_message or "Sandbox simulated failure"
    dispatched = sum(
        sim.engine.emit_for_asset(sim.state.assets[aid], body.event_type, message)
        for aid in sub.asset_ids
    )
    return {"dispatched": dispatched}


@health_router.post("/health/webhook-test")
async def webhook_test(body: WebhookTestIn, request: Request) -> dict:
    sim = request.app.state.sim
    if not (body.endpoint_url.startswith(("http://", "https://"))):
        raise validation_problem("endpointUrl", "endpointUrl must be an http(s) URL")
    _check_endpoint(request, body.endpoint_url)
    try:
        base64.b64decode(body.secret.removeprefix("whsec_"), validate=True)
    except ValueError:
        raise validation_problem("secret", "secret is not valid base64 after whsec_") from None
    workspace = workspace_for_key("webhook-test")
    data = {
        "asset_id": str(uuid.uuid4()),
        "submission_id": str(uuid.uuid4()),
        "workspace_id": workspace,
        "status": "completed",
        "filename": "webhook-test.mp4",
        "issue_count": 0,
        "test": True,
    }
    event_id, done = sim.engine.deliver_once(body.endpoint_url, body.secret, data)
    try:
        status = await asyncio.wait_for(done, sim.config.delivery_timeout_seconds + 1)
    except TimeoutError:
        status = None
    delivered = status is not None and 200 <= status < 300
    return {"delivered": delivered, "responseStatus": status, "eventId": event_id}


@health_router.get("/health")
def health() -> dict:
    return {"status": "ok"}
