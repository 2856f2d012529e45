"""The simulator's ASGI application."""

from __future__ import annotations

from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI

from mmq.contract import API_PREFIX
from simulator.auth import TokenBuckets
from simulator.config import SimulatorConfig
from simulator.engine import Engine
from simulator.errors import ApiProblem, problem_handler
from simulator.faults import FaultInjector
from simulator.limits import BodyLimit
from simulator.routes import submissions, uploads, webhooks
from simulator.state import SimulatorState


@dataclass
class Simulator:
    """Everything a route needs, hung on ``app.state.sim``."""

    config: SimulatorConfig
    state: SimulatorState
    engine: Engine
    buckets: TokenBuckets
    # Answers the fault injector made up, by status code (empty when faults are off).
    injected: Counter = field(default_factory=Counter)


def create_app(config: SimulatorConfig | None = None) -> FastAPI:
    config = config or SimulatorConfig()
    state = SimulatorState()
    sim = Simulator(
        config,
        state,
        Engine(config, state),
        TokenBuckets(config.rate_limit_per_second, config.rate_limit_burst, config.rate_limits),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await sim.engine.start()
        try:
            yield
        finally:
            await sim.engine.stop()

    app = FastAPI(
        title="MediaMagic Integrations API (simulator)",
        description="A faithful local stand-in for the MediaMagic Integrations API.",
        version="1.0",
        lifespan=lifespan,
    )
    app.state.sim = sim
    app.add_exception_handler(ApiProblem, problem_handler)
    for module in (uploads, submissions, webhooks):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(uploads.blob_router)
    app.include_router(webhooks.health_router)
    # Added last = outermost: injected faults come before everything, as a flaky proxy would.
    app.add_middleware(BodyLimit, max_body_bytes=config.max_body_bytes)
    if config.faults.api_faults_enabled:
        app.add_middleware(
            FaultInjector, profile=config.faults, seed=config.seed, counts=sim.injected
        )
    return app
