"""Raw-HTTP helpers for the simulator's contract tests (deliberately not the mmq client)."""

from __future__ import annotations

import time
import uuid

import httpx

PREFIX = "/api/integrations"
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def unique(name: str) -> str:
    """``name`` with a random tag before the extension, so tests never collide on a blob path."""
    stem, dot, ext = name.rpartition(".")
    return f"{stem}-{uuid.uuid4().hex[:10]}{dot}{ext}"


class Api:
    """httpx against the simulator with one key; every helper asserts the happy status."""

    def __init__(self, base_url: str, key: str | None) -> None:
        headers = {"X-API-Key": key} if key else {}
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url + PREFIX, headers=headers, timeout=10)

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kw) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        return self.http.post(path, **kw)

    def patch(self, path: str, **kw) -> httpx.Response:
        return self.http.patch(path, **kw)

    def delete(self, path: str, **kw) -> httpx.Response:
        return self.http.delete(path, **kw)

    def upload(self, filename: str = "spot.mp4", content_type: str = "video/mp4") -> str:
        """Presigned upload (URL, then PUT); returns the blob path."""
        r = self.post("/uploads/url", json={"filename": filename, "contentType": content_type})
        assert r.status_code == 200, r.text
        put = httpx.put(
            r.json()["uploadUrl"],
            content=b"media-bytes",
            headers={"x-ms-blob-type": "BlockBlob", "content-type": content_type},
        )
        assert put.status_code == 201, put.text
        return r.json()["blobPath"]

    def submit(self, *paths: str, delay: float | None = None, **body) -> dict:
        params = {} if delay is None else {"simulationDelaySeconds": delay}
        assets = [{"blobPath": p} for p in paths]
        r = self.post("/submissions", json={"assets": assets, **body}, params=params)
        assert r.status_code == 201, r.text
        return r.json()

    def submit_new(self, count: int = 1, delay: float | None = 0.0) -> dict:
        paths = [self.upload(unique(f"asset-{n}.mp4")) for n in range(count)]
        return self.submit(*paths, delay=delay)

    def status(self, submission_id: str) -> dict:
        r = self.get(f"/submissions/{submission_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def wait_terminal(self, submission_id: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(submission_id)
            if status["status"] in ("complete", "failed"):
                return status
            time.sleep(0.01)
        raise TimeoutError(f"submission {submission_id} did not settle in {timeout}s")

    def subscribe(self, url: str, event_types: list[str] | None = None, **body) -> dict:
        types = event_types or ["asset.processing.completed", "asset.processing.failed"]
        r = self.post(
            "/webhooks/subscriptions", json={"endpointUrl": url, "eventTypes": types, **body}
        )
        assert r.status_code == 201, r.text
        return r.json()

    def attempts(self, subscription_id: str, **params) -> list[dict]:
        r = self.get(f"/webhooks/subscriptions/{subscription_id}/deliveries", params=params)
        assert r.status_code == 200, r.text
        return r.json()["attempts"]

    def wait_attempts(self, subscription_id: str, count: int, timeout: float = 10.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            attempts = self.attempts(subscription_id, limit=200)
            if len(attempts) >= count:
                return attempts
            time.sleep(0.02)
        raise TimeoutError(f"{len(attempts)} of {count} attempts recorded in {timeout}s")
