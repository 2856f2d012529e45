"""A tiny real webhook endpoint for tests: records every request, fails the first N per event.

A stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (HTTP/1.1, keep-alive), so deliveries cross a real
socket exactly as they would to a receiver.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]  # lower-cased names
    body: bytes
    answered: int
    at: float  # time.monotonic() on arrival

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


class WebhookSink:
    """Answers ``fail_status`` to the first ``fail_first`` attempts of each webhook-id, then
    ``ok_status``; ``fail_first=-1`` fails every attempt."""

    def __init__(self, fail_first: int = 0, fail_status: int = 500, ok_status: int = 204):
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.ok_status = ok_status
        self.received: list[Received] = []
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = sink._answer(headers.get("webhook-id", ""))
                with sink._lock:
                    sink.received.append(Received(headers, body, status, time.monotonic()))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def _answer(self, webhook_id: str) -> int:
        with self._lock:
            self._seen[webhook_id] += 1
            attempt = self._seen[webhook_id]
        if self.fail_first < 0 or attempt <= self.fail_first:
            return self.fail_status
        return self.ok_status

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/integrations"

    def __enter__(self) -> WebhookSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until at least ``count`` requests arrived; return all of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.01)
        raise TimeoutError(f"sink got {len(self.received)} of {count} requests in {timeout}s")
