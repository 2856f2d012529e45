"""The one client for the MediaMagic Integrations API (real service or simulator)."""

from mmq.client.async_client import AsyncMediaMagicClient
from mmq.client.errors import (
    ApiError,
    AuthError,
    Conflict,
    Forbidden,
    NotFound,
    NotReady,
    PayloadTooLarge,
    PaymentRequired,
    RateLimited,
    ServerError,
    TransportError,
    UnsupportedMediaType,
    ValidationFailed,
)
from mmq.client.sync_client import MediaMagicClient

__all__ = [
    "ApiError",
    "AsyncMediaMagicClient",
    "AuthError",
    "Conflict",
    "Forbidden",
    "MediaMagicClient",
    "NotFound",
    "NotReady",
    "PayloadTooLarge",
    "PaymentRequired",
    "RateLimited",
    "ServerError",
    "TransportError",
    "UnsupportedMediaType",
    "ValidationFailed",
]
