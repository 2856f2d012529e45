"""The asynchronous Integrations API client: one pooled httpx client, bounded concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from pydantic import SecretStr

from mmq.client import models
from mmq.client.errors import NotFound, NotReady, TransportError, error_for
from mmq.client.retry import RETRY_STATUSES, RetryableResponse, retrying

API_PREFIX = "/api/integrations"
TERMINAL = ("complete", "completed", "failed")


class AsyncMediaMagicClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | SecretStr | None,
        *,
        timeout: float = 30.0,
        max_concurrency: int = 16,
        max_attempts: int = 6,
        backoff_max: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key or "")
        self.max_attempts = max_attempts
        self.backoff_max = backoff_max
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._http = httpx.AsyncClient(
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(
                max_connections=max_concurrency, max_keepalive_connections=max_concurrency
            ),
        )

    @classmethod
    def from_settings(cls, settings, **overrides) -> AsyncMediaMagicClient:
        options = {
            "timeout": settings.api_timeout_seconds,
            "max_concurrency": settings.api_max_concurrency,
            "max_attempts": settings.api_max_attempts,
        } | overrides
        return cls(settings.api_base_url, settings.api_key, **options)

    def __repr__(self) -> str:  # never the key
        return f"AsyncMediaMagicClient(base_url={self.base_url!r}, api_key='**********')"

    async def __aenter__(self) -> AsyncMediaMagicClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- transport ------------------------------------------------------------------------
    async def request(self, method: str, path: str, *, absolute: bool = False, **kwargs) -> Any:
        """Send with retries; return the decoded JSON (None for empty bodies) or raise ApiError."""
        url = path if absolute else f"{self.base_url}{API_PREFIX}{path}"
        headers = kwargs.pop("headers", {})
        if not absolute:
            headers["X-API-Key"] = self._key.get_secret_value()
        try:
            async for attempt in retrying(self.max_attempts, self.backoff_max):
                with attempt:
                    async with self._semaphore:
                        response = await self._http.request(method, url, headers=headers, **kwargs)
                    if response.status_code in RETRY_STATUSES:
                        raise RetryableResponse(response)
        except RetryableResponse as exc:
            response = exc.response
        except httpx.TransportError as exc:
            raise TransportError(0, method, path, f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise error_for(response.status_code, method, path, _body(response))
        return _body(response)

    async def _get(self, path: str, **kwargs) -> Any:
        return await self.request("GET", path, **kwargs)

    # --- uploads --------------------------------------------------------------------------
    async def create_upload_url(self, filename: str, content_type: str) -> models.UploadUrl:
        data = await self.request(
            "POST", "/uploads/url", json={"filename": filename, "contentType": content_type}
        )
        return models.UploadUrl.from_json(data)

    async def put_upload(self, upload_url: str, data: bytes, content_type: str) -> None:
        headers = {"x-ms-blob-type": "BlockBlob", "content-type": content_type}
        await self.request("PUT", upload_url, absolute=True, content=data, headers=headers)

    async def upload(self, filename: str, data: bytes, content_type: str) -> str:
        """Presigned upload in two steps; returns the blob path."""
        target = await self.create_upload_url(filename, content_type)
        await self.put_upload(target.upload_url, data, content_type)
        return target.blob_path

    async def upload_direct(
        self, filename: str, data: bytes, content_type: str
    ) -> models.UploadedBlob:
        files = {"file": (filename, data, content_type)}
        return models.UploadedBlob.from_json(
            await self.request("POST", "/uploads/direct", files=files)
        )

    # --- submissions ----------------------------------------------------------------------
    async def create_submission(
        self,
        assets: list[str] | list[dict],
        *,
        metadata: dict | None = None,
        sidekick_ids: list[str] | None = None,
        simulation_delay_seconds: float | None = None,
    ) -> models.CreatedSubmission:
        items = [{"blobPath": a} if isinstance(a, str) else a for a in assets]
        body: dict = {"assets": items}
        if metadata is not None:
            body["metadata"] = metadata
        if sidekick_ids:
            body["sidekickIds"] = sidekick_ids
        params = {}
        if simulation_delay_seconds is not None:
            params["simulationDelaySeconds"] = simulation_delay_seconds
        data = await self.request("POST", "/submissions", json=body, params=params)
        return models.CreatedSubmission.from_json(data)

    async def get_submission(self, submission_id: str) -> models.Submission:
        return models.Submission.from_json(await self._get(f"/submissions/{submission_id}"))

    async def get_asset(self, submission_id: str, asset_id: str) -> models.Asset:
        data = await self._get(f"/submissions/{submission_id}/assets/{asset_id}")
        return models.Asset.from_json(data)

    async def get_asset_issues(self, submission_id: str, asset_id: str) -> models.IssuesPage:
        path = f"/submissions/{submission_id}/assets/{asset_id}/issues"
        return models.IssuesPage.from_json(await self._results(path, submission_id, asset_id))

    async def get_asset_topics(self, submission_id: str, asset_id: str) -> models.TopicsPage:
        path = f"/submissions/{submission_id}/assets/{asset_id}/topics"
        return models.TopicsPage.from_json(await self._results(path, submission_id, asset_id))

    async def _results(self, path: str, submission_id: str, asset_id: str) -> dict:
        try:
            return await self._get(path)
        except NotFound as exc:
            # 404 means "not finished yet" or "gone": the asset's own status tells which.
            try:
                asset = await self.get_asset(submission_id, asset_id)
            except NotFound:
                raise exc from None
            status = (asset.status or "").lower()
            if status not in TERMINAL:
                raise NotReady(404, exc.method, exc.path, exc.detail, exc.body) from None
            if status != "failed":
                # It finished between our two reads, so the results may be there now. A second
                # 404 stays NotFound: only the caller knows whether the event was moments ago.
                return await self._get(path)
            raise

    async def retry_asset(self, submission_id: str, asset_id: str) -> models.CreatedSubmission:
        data = await self.request("POST", f"/submissions/{submission_id}/assets/{asset_id}/retry")
        return models.CreatedSubmission.from_json(data)

    # --- webhook subscriptions -------------------------------------------------------------
    async def create_subscription(
        self, endpoint_url: str, event_types: list[str], description: str | None = None
    ) -> models.Subscription:
        body = {"endpointUrl": endpoint_url, "eventTypes": event_types}
        if description is not None:
            body["description"] = description
        data = await self.request("POST", "/webhooks/subscriptions", json=body)
        return models.Subscription.from_json(data)

    async def list_subscriptions(
        self, page: int = 1, page_size: int = 10
    ) -> models.SubscriptionPage:
        params = {"page": page, "pageSize": page_size}
        data = await self._get("/webhooks/subscriptions", params=params)
        return models.SubscriptionPage.from_json(data)

    async def get_subscription(self, subscription_id: str) -> models.Subscription:
        data = await self._get(f"/webhooks/subscriptions/{subscription_id}")
        return models.Subscription.from_json(data)

    async def set_subscription_enabled(
        self, subscription_id: str, enabled: bool
    ) -> models.Subscription:
        data = await self.request(
            "PATCH", f"/webhooks/subscriptions/{subscription_id}", json={"enabled": enabled}
        )
        return models.Subscription.from_json(data)

    async def delete_subscription(self, subscription_id: str) -> None:
        await self.request("DELETE", f"/webhooks/subscriptions/{subscription_id}")

    async def list_deliveries(
        self, subscription_id: str, status_filter: str | None = None, limit: int = 50
    ) -> models.Deliveries:
        params: dict = {"limit": limit}
        if status_filter:
            params["status_filter"] = status_filter
        data = await self._get(
            f"/webhooks/subscriptions/{subscription_id}/deliveries", params=params
        )
        return models.Deliveries.from_json(data)

    # --- sandbox and health ---------------------------------------------------------------
    async def fire_sandbox_event(
        self, event_type: str, submission_id: str, error_message: str | None = None
    ) -> int:
        body = {"eventType": event_type, "submissionId": submission_id}
        if error_message is not None:
            body["errorMessage"] = error_message
        data = await self.request("POST", "/sandbox/events/fire", json=body)
        return int(data.get("dispatched", 0))

    async def webhook_test(
        self, endpoint_url: str, secret: str | SecretStr
    ) -> models.WebhookTestResult:
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        data = await self.request(
            "POST",
            f"{self.base_url}/health/webhook-test",
            absolute=True,
            json={"endpointUrl": endpoint_url, "secret": value},
        )
        return models.WebhookTestResult.from_json(data)


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text
