"""Run a real simulator on loopback for tests: uvicorn in a background thread of this process."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn

from mmq.netutil import wait_for_http
from simulator.app import create_app
from simulator.config import SimulatorConfig
from simulator.state import SimulatorState


def new_key(kind: str = "test") -> str:
    """A fresh well-formed key: ``sk_test_`` (sandbox) or ``sk_live_`` + 64 hex."""
    return f"sk_{kind}_{secrets.token_hex(32)}"


@dataclass
class SimHandle:
    base_url: str
    api_keys: list[str] = field(repr=False)
    app: object = field(repr=False)

    @property
    def api_key(self) -> str:
        return self.api_keys[0]

    @property
    def state(self) -> SimulatorState:
        return self.app.state.sim.state

    @property
    def sim(self):
        return self.app.state.sim

    @property
    def engine(self):
        return self.app.state.sim.engine

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until no webhook delivery is queued, in flight or waiting for a retry."""
        deadline = time.monotonic() + timeout
        while self.engine.pending > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.engine.pending} deliveries still pending")
            time.sleep(0.01)


@contextmanager
def running_simulator(api_keys: list[str] | None = None, **config_fields) -> Iterator[SimHandle]:
    """A simulator serving on a free port until the block ends; defaults allow http endpoints.

    ``config_fields`` are :class:`SimulatorConfig` fields (``time_scale``, ``faults``, …).
    """
    keys = api_keys or [new_key()]
    config_fields.setdefault("allow_insecure_endpoints", True)
    app = create_app(SimulatorConfig(api_keys=keys, **config_fields))
    # Bind first and hand uvicorn the socket: no window in which another process takes the port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"simulator-{port}", daemon=True
    )
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"simulator on port {port} did not start")
            time.sleep(0.005)
        wait_for_http(f"{base_url}/health", timeout=10)
        yield SimHandle(base_url, keys, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
