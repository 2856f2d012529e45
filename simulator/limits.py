"""A request-body size limit as a plain ASGI middleware.

uvicorn reads bodies of any size, so without this a single large POST could fill the
simulator's memory. JSON endpoints get ``max_body_bytes``; direct uploads get their documented
10 MB plus room for the multipart framing; the presigned PUT target enforces its per-type caps
itself while streaming (it never keeps the bytes).
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException

from mmq.contract import API_PREFIX, DIRECT_UPLOAD_LIMIT

MULTIPART_SLACK = 64 * 1024
TOO_LARGE = "Request body too large"


class BodyLimit:
    def __init__(self, app, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def limit_for(self, path: str) -> int | None:
        if path.startswith("/_blobs/"):
            return None
        if path == f"{API_PREFIX}/uploads/direct":
            return DIRECT_UPLOAD_LIMIT + MULTIPART_SLACK
        return self.max_body_bytes

    async def __call__(self, scope, receive, send):
        limit = self.limit_for(scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await self._reject(send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI re-raises HTTPExceptions from body reading; rendered as a 413.
                    raise HTTPException(413, TOO_LARGE)
            return message

        return await self.app(scope, limited_receive, send)

    async def _reject(self, send) -> None:
        payload = json.dumps({"detail": TOO_LARGE}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"connection", b"close"),  # the unread body must not be parsed as the next request
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
