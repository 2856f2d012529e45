"""Errors raised by the API client: one class per answer a caller handles differently."""

from __future__ import annotations

HINTS = {
    401: "check MMQ_API_KEY (sk_live_/sk_test_ key of your workspace)",
    402: "your plan lacks Integrations API access; contact MediaMagic",
    403: "not allowed for this key or workspace",
    404: "check the id; it may belong to another workspace",
    409: "the resource is not in a state that allows this",
    413: "the upload is too large; use a presigned URL or a smaller file",
    415: "the content type is not on the allowlist",
    422: "the request failed validation; see the detail",
    429: "rate limited; retry later",
}


class ApiError(Exception):
    """An answer other than 2xx (after retries, where retries apply)."""

    def __init__(self, status_code: int, method: str, path: str, detail: object, body=None):
        self.status_code = status_code
        self.method = method
        self.path = path
        self.detail = detail
        self.body = body
        super().__init__(str(self))

    def __str__(self) -> str:
        detail = self.detail
        if isinstance(detail, list):  # FastAPI validation shape
            detail = "; ".join(
                f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}"
                for d in detail
                if isinstance(d, dict)
            )
        hint = HINTS.get(self.status_code, "server-side problem; retry later")
        return f"{self.status_code} on {self.method} {self.path}: {detail} ({hint})"


class AuthError(ApiError): ...


class PaymentRequired(ApiError): ...


class Forbidden(ApiError): ...


class NotFound(ApiError): ...


class NotReady(NotFound):
    """404 on issues/topics while the asset is still processing: poll again later."""


class Conflict(ApiError): ...


class PayloadTooLarge(ApiError): ...


class UnsupportedMediaType(ApiError): ...


class ValidationFailed(ApiError): ...


class RateLimited(ApiError): ...


class ServerError(ApiError): ...


class TransportError(ApiError):
    """The API could not be reached (connection refused, timeout) after retries."""

    def __str__(self) -> str:
        return f"cannot reach the API for {self.method} {self.path}: {self.detail}"


BY_STATUS: dict[int, type[ApiError]] = {
    401: AuthError,
    402: PaymentRequired,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    429: RateLimited,
}


def error_for(status: int, method: str, path: str, body: object) -> ApiError:
    detail = body
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("message") or body.get("error") or body
    cls = BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return cls(status, method, path, detail, body)
