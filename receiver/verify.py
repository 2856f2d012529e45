"""Webhook secrets: validated at start-up, then used to authenticate every delivery.

``standardwebhooks`` does the verification. Any exception it raises on a malformed request (not
only ``WebhookVerificationError``) means "not authentic" here: a 5xx would make senders retry
for days.
"""

from __future__ import annotations

import base64
import binascii

from pydantic import SecretStr
from standardwebhooks import Webhook

PREFIX = "whsec_"
REQUIRED_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class SecretError(ValueError):
    """A configured secret is unusable; the message names it by position, never by value."""


def load_secrets(secrets: list[SecretStr]) -> list[Webhook]:
    if not secrets:
        raise SecretError("no webhook secret configured: set MMQ_WEBHOOK_SECRETS (whsec_…)")
    verifiers = []
    for position, secret in enumerate(secrets, start=1):
        value = secret.get_secret_value().strip()
        where = f"webhook secret #{position} of {len(secrets)}"
        if not value.startswith(PREFIX):
            raise SecretError(f"{where} does not start with {PREFIX!r}")
        try:
            key = base64.b64decode(value[len(PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise SecretError(f"{where} is not valid base64 after {PREFIX!r}") from None
        if not 24 <= len(key) <= 64:
            raise SecretError(f"{where} decodes to {len(key)} bytes; expected 24 to 64")
        verifiers.append(Webhook(value))
    return verifiers


class Verifier:
    def __init__(self, secrets: list[SecretStr]) -> None:
        self._webhooks = load_secrets(secrets)

    def is_authentic(self, body: bytes, headers: dict[str, str]) -> bool:
        if any(not headers.get(name) for name in REQUIRED_HEADERS):
            return False
        for webhook in self._webhooks:
            try:
                webhook.verify(body, headers, json_parse=False)
                return True
            except Exception:
                continue
        return False
