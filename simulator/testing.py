"""Run a real simulator on loopback for tests: uvicorn in a background thread of this process."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn

from mmq.netutil import free_port, wait_for_http
from simulator.app import create_app
from simulator.config import SimulatorConfig
from simulator.state import SimulatorState


def new_key(kind: str = "test") -> str:
    return f"sk_{kind}_{secrets.token_hex(32)}"


@dataclass
class SimHandle:
    base_url: str
    api_keys: list[str]
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


@contextmanager
def running_simulator(api_keys: list[str] | None = None, **config_fields) -> Iterator[SimHandle]:
    """A simulator serving on a free port until the block ends; defaults allow http endpoints."""
    keys = api_keys or [new_key()]
    config_fields.setdefault("allow_insecure_endpoints", True)
    app = create_app(SimulatorConfig(api_keys=keys, **config_fields))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"simulator-{port}", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base_url}/health", timeout=30)
        yield SimHandle(base_url, keys, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
