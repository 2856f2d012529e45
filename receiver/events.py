"""Turn an authentic delivery into a landing row (parse once, flag what we cannot process)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

KNOWN_TYPES = frozenset({"asset.processing.completed", "asset.processing.failed"})
KEPT_HEADERS = (
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "user-agent",
)


@dataclass(slots=True)
class LandingRow:
    event_id: str
    webhook_id: str
    event_type: str | None
    event_timestamp: datetime | None
    received_at: datetime
    body: bytes
    headers: str
    is_parseable: bool
    is_known_type: bool
    is_test: bool


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def landing_row(body: bytes, headers: dict[str, str]) -> LandingRow:
    webhook_id = headers["webhook-id"]
    try:
        envelope = json.loads(body)
        parseable = isinstance(envelope, dict)
    except ValueError:
        envelope, parseable = None, False
    if not parseable:
        envelope = {}
    event_id = envelope.get("id") if isinstance(envelope.get("id"), str) else None
    event_type = envelope.get("type") if isinstance(envelope.get("type"), str) else None
    data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
    kept = {name: headers[name] for name in KEPT_HEADERS if name in headers}
    return LandingRow(
        event_id=event_id or webhook_id,
        webhook_id=webhook_id,
        event_type=event_type,
        event_timestamp=_timestamp(envelope.get("timestamp")),
        received_at=datetime.now(UTC),
        body=body,
        headers=json.dumps(kept),
        is_parseable=parseable,
        is_known_type=event_type in KNOWN_TYPES,
        is_test=data.get("test") is True,
    )
