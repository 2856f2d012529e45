"""``mmq simulator``: serve the Integrations API simulator (and optionally drive a scenario)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8100,
    host: Annotated[
        str, typer.Option(help="Interface to bind; loopback unless told.")
    ] = "127.0.0.1",
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key",
            help="Accepted key (sk_test_/sk_live_ + 64 hex); repeatable. "
            "Each key is its own workspace. None given: one sk_test_ key is generated.",
        ),
    ] = None,
    time_scale: Annotated[
        float, typer.Option(help="Multiplies processing times (2–8 s) and webhook retry delays.")
    ] = 1.0,
    failure_rate: Annotated[
        float, typer.Option(help="Share of assets whose processing fails.")
    ] = 0.08,
    retryable_share: Annotated[
        float, typer.Option(help="Share of failures that are retryable.")
    ] = 0.6,
    allow_insecure_endpoints: Annotated[
        bool, typer.Option(help="Accept http:// webhook endpoints (for a local receiver).")
    ] = False,
    faults: Annotated[
        Path | None, typer.Option(help="Fault profile (JSON or YAML), see docs/architecture.md.")
    ] = None,
    fault_rate_429: Annotated[
        float, typer.Option(help="Share of API requests answered 429.")
    ] = 0.0,
    fault_rate_500: Annotated[
        float, typer.Option(help="Share of API requests answered 500.")
    ] = 0.0,
    fault_rate_502: Annotated[
        float, typer.Option(help="Share of API requests answered 502.")
    ] = 0.0,
    fault_latency_ms: Annotated[
        float, typer.Option(help="Latency added to each API request.")
    ] = 0.0,
    webhook_duplicate_rate: Annotated[
        float, typer.Option(help="Share of events sent twice.")
    ] = 0.0,
    webhook_drop_rate: Annotated[float, typer.Option(help="Share of events never sent.")] = 0.0,
    webhook_fail_rate: Annotated[float, typer.Option(help="Share of attempts failing.")] = 0.0,
    webhook_reorder_seconds: Annotated[
        float, typer.Option(help="Random extra delay per event (reorders deliveries).")
    ] = 0.0,
    rate_limit: Annotated[float, typer.Option(help="Requests/s per key and bucket.")] = 1000.0,
    seed: Annotated[int, typer.Option(help="Seed for fault injection.")] = 0,
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario file (JSON/YAML) to drive once the API is up.")
    ] = None,
) -> None:
    """Serve a faithful local MediaMagic Integrations API, with signed webhook delivery."""
    import uvicorn

    from simulator.app import create_app
    from simulator.config import FaultProfile, SimulatorConfig, WebhookFaults
    from simulator.testing import new_key

    try:
        profile = (
            FaultProfile.from_file(faults)
            if faults
            else FaultProfile(
                rate_429=fault_rate_429,
                rate_500=fault_rate_500,
                rate_502=fault_rate_502,
                latency_ms=fault_latency_ms,
                webhooks=WebhookFaults(
                    duplicate_rate=webhook_duplicate_rate,
                    drop_rate=webhook_drop_rate,
                    fail_rate=webhook_fail_rate,
                    reorder_seconds=webhook_reorder_seconds,
                ),
            )
        )
        keys = api_key or [new_key()]
        config = SimulatorConfig(
            api_keys=keys,
            time_scale=time_scale,
            failure_rate=failure_rate,
            retryable_share=retryable_share,
            allow_insecure_endpoints=allow_insecure_endpoints,
            faults=profile,
            rate_limit_per_second=rate_limit,
            seed=seed,
        )
    except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        typer.echo(f"error: invalid simulator configuration: {exc}", err=True)
        raise typer.Exit(2) from None
    if not api_key:
        typer.echo(f"generated sandbox API key: {keys[0]}")
    app = create_app(config)
    if scenario is not None:
        _drive_scenario_when_up(app, scenario, f"http://{host}:{port}", keys[0])
    typer.echo(f"simulator: http://{host}:{port}/api/integrations (docs at /docs)")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _drive_scenario_when_up(app, scenario: Path, base_url: str, key: str) -> None:
    import threading

    from mmq.netutil import wait_for_http
    from simulator.driver import load_scenario, run_scenario

    spec = load_scenario(scenario)

    def drive() -> None:
        wait_for_http(f"{base_url}/health", timeout=60)
        result = run_scenario(base_url, key, **spec)
        typer.echo(f"scenario done: {result.summary()}")

    threading.Thread(target=drive, name="scenario", daemon=True).start()
