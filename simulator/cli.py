"""``mmq simulator``: serve the Integrations API simulator (and optionally drive a scenario)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

KEYS = "API keys"
CLOCK = "Processing model"
HOOKS = "Webhook delivery"
LIMITS = "Rate limits"
SEEDING = "Seeding"
FAULTS = "Fault injection (off by default; flags override a --faults profile)"


def _bucket_limits(values: list[str]) -> dict[str, float]:
    limits = {}
    for value in values:
        bucket, sep, rate = value.partition("=")
        try:
            limits[bucket.strip()] = float(rate)
        except ValueError:
            sep = ""
        if not sep:
            raise ValueError(f"--bucket-rate-limit {value!r}: expected BUCKET=REQUESTS_PER_SECOND")
    return limits


def main(
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8100,
    host: Annotated[
        str, typer.Option(help="Interface to bind; loopback unless told otherwise.")
    ] = "127.0.0.1",
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key",
            metavar="KEY",
            help="Accepted key (sk_test_/sk_live_ + 64 hex); repeatable. Each key is its own "
            "workspace. None given: one sk_test_ key is generated and printed.",
            rich_help_panel=KEYS,
        ),
    ] = None,
    unauthorized_tier_key: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY",
            help="Key whose plan lacks API access: every request answers 402; repeatable.",
            rich_help_panel=KEYS,
        ),
    ] = None,
    expired_api_key: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY", help="Key answered 401 'has expired'; repeatable.", rich_help_panel=KEYS
        ),
    ] = None,
    revoked_api_key: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY",
            help="Key answered 401 'has been revoked'; repeatable.",
            rich_help_panel=KEYS,
        ),
    ] = None,
    time_scale: Annotated[
        float,
        typer.Option(
            help="Multiplies processing times and webhook retry delays (0.01 = 100x faster).",
            rich_help_panel=CLOCK,
        ),
    ] = 1.0,
    processing_seconds: Annotated[
        tuple[float, float],
        typer.Option(
            help="Range an asset's processing takes, before --time-scale.", rich_help_panel=CLOCK
        ),
    ] = (2.0, 8.0),
    failure_rate: Annotated[
        float, typer.Option(help="Share of assets whose processing fails.", rich_help_panel=CLOCK)
    ] = 0.08,
    retryable_share: Annotated[
        float, typer.Option(help="Share of failures that are retryable.", rich_help_panel=CLOCK)
    ] = 0.6,
    retry_cap: Annotated[
        int, typer.Option(help="Retries allowed per asset before 409.", rich_help_panel=CLOCK)
    ] = 3,
    allow_insecure_endpoints: Annotated[
        bool,
        typer.Option(
            "--allow-insecure-endpoints",
            help="Accept http:// webhook endpoints (for a local receiver); otherwise HTTPS only.",
            rich_help_panel=HOOKS,
        ),
    ] = False,
    subscription_limit: Annotated[
        int, typer.Option(help="Subscriptions per workspace.", rich_help_panel=HOOKS)
    ] = 10,
    delivery_concurrency: Annotated[
        int, typer.Option(help="Webhook deliveries in flight at once.", rich_help_panel=HOOKS)
    ] = 8,
    delivery_timeout: Annotated[
        float,
        typer.Option(help="Seconds before an attempt counts as failed.", rich_help_panel=HOOKS),
    ] = 15.0,
    rate_limit: Annotated[
        float, typer.Option(help="Requests/s per key and bucket.", rich_help_panel=LIMITS)
    ] = 1000.0,
    rate_limit_burst: Annotated[
        int, typer.Option(help="Token-bucket size per key and bucket.", rich_help_panel=LIMITS)
    ] = 2000,
    bucket_rate_limit: Annotated[
        list[str] | None,
        typer.Option(
            metavar="BUCKET=RATE",
            help="Per-bucket rate, BUCKET=REQUESTS_PER_SECOND (upload, submission_write, "
            "submission_read, webhook_write, webhook_read, sandbox); repeatable.",
            rich_help_panel=LIMITS,
        ),
    ] = None,
    faults: Annotated[
        Path | None,
        typer.Option(
            help="Fault profile (JSON or YAML): rate_429, rate_500, rate_502, "
            "retry_after_seconds, latency_ms, paths, endpoints, webhooks.* — see "
            "docs/architecture.md.",
            rich_help_panel=FAULTS,
        ),
    ] = None,
    fault_rate_429: Annotated[
        float | None,
        typer.Option(help="Share of API requests answered 429.", rich_help_panel=FAULTS),
    ] = None,
    fault_rate_500: Annotated[
        float | None,
        typer.Option(help="Share of API requests answered 500.", rich_help_panel=FAULTS),
    ] = None,
    fault_rate_502: Annotated[
        float | None,
        typer.Option(help="Share of API requests answered 502.", rich_help_panel=FAULTS),
    ] = None,
    fault_retry_after: Annotated[
        int | None,
        typer.Option(help="Retry-After seconds on injected 429s [1].", rich_help_panel=FAULTS),
    ] = None,
    fault_latency_ms: Annotated[
        float | None,
        typer.Option(help="Latency added to each API request.", rich_help_panel=FAULTS),
    ] = None,
    fault_path: Annotated[
        list[str] | None,
        typer.Option(
            metavar="FRAGMENT",
            help="Limit API faults to paths containing this fragment; repeatable.",
            rich_help_panel=FAULTS,
        ),
    ] = None,
    webhook_duplicate_rate: Annotated[
        float | None, typer.Option(help="Share of events sent twice.", rich_help_panel=FAULTS)
    ] = None,
    webhook_drop_rate: Annotated[
        float | None, typer.Option(help="Share of events never sent.", rich_help_panel=FAULTS)
    ] = None,
    webhook_fail_rate: Annotated[
        float | None,
        typer.Option(help="Share of attempts failing (then retried).", rich_help_panel=FAULTS),
    ] = None,
    webhook_reorder_seconds: Annotated[
        float | None,
        typer.Option(
            help="Random extra delay per event, up to this (reorders deliveries).",
            rich_help_panel=FAULTS,
        ),
    ] = None,
    webhook_slow_seconds: Annotated[
        float | None,
        typer.Option(help="Delay before every delivery attempt.", rich_help_panel=FAULTS),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed for fault injection and webhook fault choices.")
    ] = 0,
    scenario: Annotated[
        Path | None,
        typer.Option(
            help="Scenario file (JSON/YAML: submissions, assets_per_submission, "
            "duration_seconds, concurrency, retry_failed, seed) to drive once the API is up."
        ),
    ] = None,
    seed_submissions: Annotated[
        int,
        typer.Option(
            min=0,
            help="Settled submissions to put in the first --api-key's workspace at start "
            "(no webhooks; ids derive from the key, see simulator.seeding).",
            rich_help_panel=SEEDING,
        ),
    ] = 0,
    seed_assets_per_submission: Annotated[
        int,
        typer.Option(min=1, help="Assets per seeded submission.", rich_help_panel=SEEDING),
    ] = 5,
    log_level: Annotated[
        str, typer.Option(help="uvicorn log level (critical, error, warning, info, debug).")
    ] = "warning",
) -> None:
    """Serve a faithful local MediaMagic Integrations API, with signed webhook delivery."""
    import uvicorn

    from simulator.app import create_app
    from simulator.config import FaultProfile, SimulatorConfig
    from simulator.testing import new_key

    api_flags = {
        "rate_429": fault_rate_429,
        "rate_500": fault_rate_500,
        "rate_502": fault_rate_502,
        "retry_after_seconds": fault_retry_after,
        "latency_ms": fault_latency_ms,
        "paths": fault_path or None,
    }
    webhook_flags = {
        "duplicate_rate": webhook_duplicate_rate,
        "drop_rate": webhook_drop_rate,
        "fail_rate": webhook_fail_rate,
        "reorder_seconds": webhook_reorder_seconds,
        "slow_seconds": webhook_slow_seconds,
    }
    try:
        profile = FaultProfile.from_file(faults) if faults else FaultProfile()
        data = profile.model_dump()
        data.update({k: v for k, v in api_flags.items() if v is not None})
        data["webhooks"].update({k: v for k, v in webhook_flags.items() if v is not None})
        keys = api_key or [new_key()]
        config = SimulatorConfig(
            api_keys=keys,
            unauthorized_tier_keys=unauthorized_tier_key or [],
            expired_api_keys=expired_api_key or [],
            revoked_api_keys=revoked_api_key or [],
            time_scale=time_scale,
            processing_seconds=processing_seconds,
            failure_rate=failure_rate,
            retryable_share=retryable_share,
            retry_cap=retry_cap,
            subscription_limit=subscription_limit,
            allow_insecure_endpoints=allow_insecure_endpoints,
            delivery_concurrency=delivery_concurrency,
            delivery_timeout_seconds=delivery_timeout,
            rate_limit_per_second=rate_limit,
            rate_limit_burst=rate_limit_burst,
            rate_limits=_bucket_limits(bucket_rate_limit or []),
            faults=FaultProfile.model_validate(data),
            seed=seed,
        )
        spec = None
        if scenario is not None:
            from simulator.driver import load_scenario

            spec = load_scenario(scenario)
    except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        typer.echo(f"error: invalid simulator configuration: {exc}", err=True)
        raise typer.Exit(2) from None
    if not api_key:
        # A throw-away sandbox key the simulator itself made up: the user needs it to call us.
        typer.echo(f"generated sandbox API key: {keys[0]}")
    app = create_app(config)
    if seed_submissions:
        _seed(app, config, keys[0], seed_submissions, seed_assets_per_submission)
    base_url = f"http://{host}:{port}"
    if spec is not None:
        _drive_scenario_when_up(spec, base_url, keys[0])
    typer.echo(f"simulator: {base_url}/api/integrations (OpenAPI docs at {base_url}/docs)")
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)


def _seed(app, config, key: str, submissions: int, assets_per_submission: int) -> None:
    import time

    from simulator.seeding import seed_finished_submissions

    started = time.monotonic()
    assets = seed_finished_submissions(
        app.state.sim.state, config, key, submissions, assets_per_submission
    )
    seconds = time.monotonic() - started
    typer.echo(f"seeded {submissions} submissions / {assets} assets in {seconds:.1f}s")


def _drive_scenario_when_up(spec: dict, base_url: str, key: str) -> None:
    import threading

    from mmq.netutil import wait_for_http
    from simulator.driver import run_scenario

    def drive() -> None:
        try:
            wait_for_http(f"{base_url}/health", timeout=60)
            result = run_scenario(base_url, key, **spec)
        except Exception as exc:  # the server keeps serving; say why the scenario stopped
            typer.echo(f"scenario failed: {type(exc).__name__}: {exc}", err=True)
            return
        typer.echo(f"scenario done: {result.summary()}")

    threading.Thread(target=drive, name="scenario", daemon=True).start()
