"""Turn an authentic delivery into a landing row: parse once, flag what we cannot process.

This runs in the writer process (``receiver.writer``), off the receiver's event loop.

Every value taken from the body is checked so that the row can always be stored: a string that
DuckDB cannot encode (a lone surrogate from a ``\\ud800`` escape) or a timestamp outside the
range Python can read back would otherwise fail the whole group commit it is part of.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

KNOWN_TYPES = frozenset({"asset.processing.completed", "asset.processing.failed"})
# The delivery headers kept with each event, in the order intake sends their values.
KEPT_HEADERS = (
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "user-agent",
)
MAX_TEXT_LENGTH = 255  # ids and type names are short; longer ones are not trusted as keys


@dataclass(slots=True)
class LandingRow:
    event_id: str
    webhook_id: str
    event_type: str | None
    event_timestamp: datetime | None
    received_at: datetime
    body: bytes
    headers: str  # JSON object of the delivery headers we keep
    is_parseable: bool
    is_known_type: bool
    is_test: bool


def _text(value: object) -> str | None:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT_LENGTH:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def _envelope(body: bytes) -> dict | None:
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or absurdly nested
        return None
    return envelope if isinstance(envelope, dict) else None


def landing_row(
    body: bytes, webhook_id: str, kept_headers: tuple[str | None, ...], received_at: float
) -> LandingRow:
    """``kept_headers``: the values of ``KEPT_HEADERS`` (None when absent); ``received_at``:
    when intake read the body, in seconds since the epoch."""
    envelope = _envelope(body)
    parseable = envelope is not None
    envelope = envelope or {}
    event_type = _text(envelope.get("type"))
    data = envelope.get("data")
    return LandingRow(
        # The envelope id is the event's identity; webhook-id equals it for this sender, and
        # stands in when the body has no usable id, so that every authentic delivery has a key.
        event_id=_text(envelope.get("id")) or webhook_id,
        webhook_id=webhook_id,
        event_type=event_type,
        event_timestamp=_timestamp(envelope.get("timestamp")),
        received_at=datetime.fromtimestamp(received_at, UTC),
        body=body,
        headers=json.dumps(
            {n: v for n, v in zip(KEPT_HEADERS, kept_headers, strict=True) if v is not None}
        ),
        is_parseable=parseable,
        is_known_type=event_type in KNOWN_TYPES,
        is_test=isinstance(data, dict) and data.get("test") is True,
    )
