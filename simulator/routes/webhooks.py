"""Webhook subscriptions, their delivery attempts, the sandbox fire and the webhook test."""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid
from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from simulator.auth import Caller, caller_for
from simulator.errors import ApiProblem, validation_problem
from simulator.schemas import (
    DeliveriesOut,
    FireIn,
    FireOut,
    HealthOut,
    SubscriptionCreatedOut,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPageOut,
    SubscriptionPatch,
    WebhookTestIn,
    WebhookTestOut,
    error_responses,
)
from simulator.state import Subscription, now, workspace_for_key

router = APIRouter(tags=["webhooks"])
health_router = APIRouter(tags=["health"])  # served without the API prefix
AUTH_ERRORS = (401, 402, 429, 500, 502)
OWNED_ERRORS = error_responses(403, 404, *AUTH_ERRORS)


def _check_endpoint(request: Request, url: str) -> None:
    """HTTPS only, unless the simulator was started with ``allow_insecure_endpoints``."""
    allow_http = request.app.state.sim.config.allow_insecure_endpoints
    schemes = ("https", "http") if allow_http else ("https",)
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise validation_problem("endpointUrl", "endpointUrl is not a valid URL") from None
    if parsed.scheme not in schemes:
        expected = "an http:// or https://" if allow_http else "an https://"
        raise validation_problem("endpointUrl", f"endpointUrl must be {expected} URL")
    if not parsed.host:
        raise validation_problem("endpointUrl", "endpointUrl has no host")


def _owned(request: Request, caller: Caller, subscription_id: str) -> Subscription:
    sub = request.app.state.sim.state.subscriptions.get(subscription_id)
    if sub is None:
        raise ApiProblem(404, "Subscription not found")
    if sub.workspace_id != caller.workspace_id:
        raise ApiProblem(403, "Subscription belongs to another workspace")
    return sub


@router.post(
    "/webhooks/subscriptions",
    status_code=201,
    response_model=SubscriptionCreatedOut,
    responses=error_responses(*AUTH_ERRORS),
)
async def create_subscription(
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


@router.get(
    "/webhooks/subscriptions",
    response_model=SubscriptionPageOut,
    responses=error_responses(*AUTH_ERRORS),
)
async def list_subscriptions(
    request: Request,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
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


@router.get(
    "/webhooks/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    responses=OWNED_ERRORS,
)
async def get_subscription(
    subscription_id: str, request: Request, caller: Caller = Depends(caller_for("webhook_read"))
) -> dict:
    return _owned(request, caller, subscription_id).public()


@router.patch(
    "/webhooks/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    responses=OWNED_ERRORS,
)
async def patch_subscription(
    subscription_id: str,
    body: SubscriptionPatch,
    request: Request,
    caller: Caller = Depends(caller_for("webhook_write")),
) -> dict:
    sub = _owned(request, caller, subscription_id)
    sub.enabled = body.enabled
    sub.updated_at = now()
    return sub.public()


@router.delete(
    "/webhooks/subscriptions/{subscription_id}",
    status_code=204,
    response_class=Response,
    responses=OWNED_ERRORS,
)
async def delete_subscription(
    subscription_id: str, request: Request, caller: Caller = Depends(caller_for("webhook_write"))
) -> Response:
    _owned(request, caller, subscription_id)
    del request.app.state.sim.state.subscriptions[subscription_id]
    return Response(status_code=204)


@router.get(
    "/webhooks/subscriptions/{subscription_id}/deliveries",
    response_model=DeliveriesOut,
    responses=OWNED_ERRORS,
)
async def list_deliveries(
    subscription_id: str,
    request: Request,
    status_filter: Annotated[Literal["SUCCESSFUL", "FAILED"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    caller: Caller = Depends(caller_for("webhook_read")),
) -> dict:
    sub = _owned(request, caller, subscription_id)
    attempts = []
    for attempt in reversed(sub.attempts):  # newest first
        if status_filter in (None, attempt["status"]):
            attempts.append(attempt)
            if len(attempts) == limit:
                break
    return {"attempts": attempts, "total": len(attempts)}


@router.post(
    "/sandbox/events/fire",
    response_model=FireOut,
    responses=error_responses(403, 404, *AUTH_ERRORS),
)
async def fire_event(
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


@health_router.post("/health/webhook-test", response_model=WebhookTestOut)
async def webhook_test(body: WebhookTestIn, request: Request) -> dict:
    sim = request.app.state.sim
    _check_endpoint(request, body.endpoint_url)
    try:
        key = base64.b64decode(body.secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise validation_problem("secret", "secret is not valid base64 after whsec_") from None
    if not key:
        raise validation_problem("secret", "secret is empty after whsec_")
    data = {
        "asset_id": str(uuid.uuid4()),
        "submission_id": str(uuid.uuid4()),
        "workspace_id": workspace_for_key("webhook-test"),
        "status": "completed",
        "filename": "webhook-test.mp4",
        "issue_count": 0,
        "test": True,
    }
    event_id, status = await sim.engine.send_test(body.endpoint_url, body.secret, data)
    delivered = status is not None and 200 <= status < 300
    return {"delivered": delivered, "responseStatus": status, "eventId": event_id}


@health_router.get("/health", response_model=HealthOut)
async def health() -> dict:
    return {"status": "ok"}
