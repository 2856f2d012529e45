"""Webhook secrets: validated at start-up, then used to authenticate every delivery.

``standardwebhooks`` checks the signature. Before it runs, the three ``webhook-*`` headers are
checked here for shape (present once, ASCII, an integer timestamp, at least one ``v1,`` entry),
so that a malformed request is told apart from a forged one in the metrics, and so that no odd
input reaches the library: it raises more than ``WebhookVerificationError`` on some inputs, and
any exception it raises still means "not authentic" here, because a 5xx would make senders
retry for days.
"""

from __future__ import annotations

import base64
import binascii
import time

from pydantic import SecretStr
from standardwebhooks import Webhook

PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60  # the library's fixed tolerance; checked here too to count the cause
MAX_ID_LENGTH = 255  # Standard Webhooks ids are short (``msg_…``, ``evt_<uuid>``)
MAX_SIGNATURE_LENGTH = 4096  # room for dozens of ``v1,<base64>`` entries during rotations

# Causes of a 401, as counted in ``mmq_receiver_requests_rejected_total{cause=…}``.
UNPARSEABLE = "unparseable"  # missing, repeated or malformed webhook-* headers
STALE = "stale_timestamp"  # webhook-timestamp outside ±5 minutes (a replay or a bad clock)
FORGED = "verification_failed"  # well-formed, but no signature matches any configured secret


class SecretError(ValueError):
    """A configured secret is unusable; the message names it by position, never by value."""


def decode_secret(value: str, where: str) -> bytes:
    if not value.startswith(PREFIX):
        raise SecretError(f"{where} does not start with {PREFIX!r}")
    encoded = value[len(PREFIX) :]
    try:
        # Padding is optional in the wild; the alphabet is not.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SecretError(f"{where} is not valid base64 after {PREFIX!r}") from None
    if not 24 <= len(key) <= 64:
        raise SecretError(f"{where} decodes to {len(key)} bytes; expected 24 to 64")
    return key


def load_secrets(secrets: list[SecretStr]) -> list[Webhook]:
    if not secrets:
        raise SecretError("no webhook secret configured: set MMQ_WEBHOOK_SECRETS (whsec_…)")
    webhooks = []
    for position, secret in enumerate(secrets, start=1):
        where = f"webhook secret #{position} of {len(secrets)}"
        key = decode_secret(secret.get_secret_value().strip(), where)
        webhooks.append(Webhook(key))  # the key bytes we validated, not a re-decoding
    return webhooks


def header_problem(
    webhook_id: str | None, timestamp: str | None, signature: str | None, now: float
) -> str | None:
    """Why these headers cannot authenticate anything (a cause), or None when they may."""
    if not webhook_id or not timestamp or not signature:
        return UNPARSEABLE
    if len(webhook_id) > MAX_ID_LENGTH or not webhook_id.isascii() or not webhook_id.isprintable():
        return UNPARSEABLE
    if len(timestamp) > 12 or not (timestamp.isascii() and timestamp.isdigit()):
        return UNPARSEABLE  # unix seconds; the library would also take "1e9" or "1_7"
    if len(signature) > MAX_SIGNATURE_LENGTH or "v1," not in signature:
        return UNPARSEABLE
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return STALE
    return None


class Verifier:
    def __init__(self, secrets: list[SecretStr]) -> None:
        self._webhooks = load_secrets(secrets)

    def problem(self, body: bytes, webhook_id, timestamp, signature) -> str | None:
        """None when the delivery is authentic under any configured secret, else the cause."""
        cause = header_problem(webhook_id, timestamp, signature, time.time())
        if cause is not None:
            return cause
        headers = {
            "webhook-id": webhook_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": signature,
        }
        for webhook in self._webhooks:
            try:
                webhook.verify(body, headers, json_parse=False)
            except Exception:  # any failure of the library on odd input = not authentic
                continue
            return None
        return FORGED
