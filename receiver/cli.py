"""``mmq receiver``: verify, deduplicate and land webhooks; serve the event feed."""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Annotated

import typer

EXIT_CONFIG = 2  # bad settings or secrets, or the landing file is owned by another process


def read_secret_files(paths: list[Path]) -> list[str]:
    """``whsec_`` secrets, one per line; blank lines and ``#`` comments are skipped."""
    found = []
    for path in paths:
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                found.append(line)
    return found


def main(
    host: Annotated[
        str | None,
        typer.Option(help="Interface to bind [MMQ_RECEIVER_HOST, default 127.0.0.1]."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="TCP port [MMQ_RECEIVER_PORT, default 8000].")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Directory of landing.duckdb [MMQ_DATA_DIR, default ./data]."),
    ] = None,
    secrets_file: Annotated[
        list[Path] | None,
        typer.Option(
            help="File of whsec_ secrets, one per line; repeatable. Added to MMQ_WEBHOOK_SECRETS."
        ),
    ] = None,
    max_body_bytes: Annotated[
        int | None,
        typer.Option(help="Largest body accepted, else 413 [MMQ_RECEIVER_MAX_BODY_BYTES, 1 MiB]."),
    ] = None,
    batch_max_events: Annotated[
        int | None,
        typer.Option(help="Most events per group commit [MMQ_RECEIVER_BATCH_MAX_EVENTS, 500]."),
    ] = None,
    batch_max_ms: Annotated[
        float | None,
        typer.Option(
            help="Longest wait for more events before a commit starts "
            "[MMQ_RECEIVER_BATCH_MAX_MS, 2]."
        ),
    ] = None,
    memory_limit_mb: Annotated[
        int | None,
        typer.Option(
            help="DuckDB memory limit of the landing writer, in MB "
            "[MMQ_RECEIVER_MEMORY_LIMIT_MB, 24]."
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Receive signed MediaMagic webhooks: verify, deduplicate and land them durably in DuckDB.

    POST /webhooks/integrations is verified (Standard Webhooks) against every configured
    secret and answered 2xx only once the event is committed to DATA_DIR/landing.duckdb;
    retries of a landed event get 2xx and are not landed twice. GET /events?after=SEQ&limit=N
    serves landed events to the pipeline (Authorization: Bearer MMQ_FEED_TOKEN), GET /healthz
    and GET /metrics (Prometheus) serve operations.

    Secrets: MMQ_WEBHOOK_SECRETS (whsec_..., space or comma separated; several for rotation
    or several subscriptions) and/or --secrets-file. Each is checked at start-up; a bad one
    stops the start and is named by its position, never by its value.

    One receiver per data directory: a second one on the same landing.duckdb refuses to
    start. Bind to loopback and put a TLS-terminating proxy in front (docs/operations.md).
    SIGTERM or Ctrl-C stops accepting, commits what is queued, answers, then exits.
    Exit code 2: bad settings or secrets, or the landing file is in use.
    """
    import uvicorn
    from pydantic import SecretStr, ValidationError

    from mmq.settings import get_settings
    from receiver.app import create_app
    from receiver.store import StoreError
    from receiver.verify import SecretError

    if log_level.lower() not in ("debug", "info", "warning", "error"):
        typer.echo("error: --log-level must be debug, info, warning or error", err=True)
        raise typer.Exit(EXIT_CONFIG)
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    overrides: dict = {}
    for name, value in (
        ("receiver_host", host),
        ("receiver_port", port),
        ("data_dir", data_dir),
        ("receiver_max_body_bytes", max_body_bytes),
        ("receiver_batch_max_events", batch_max_events),
        ("receiver_batch_max_ms", batch_max_ms),
        ("receiver_memory_limit_mb", memory_limit_mb),
    ):
        if value is not None:
            overrides[name] = value
    try:
        settings = get_settings(**overrides)
        if secrets_file:
            from_files = [SecretStr(value) for value in read_secret_files(secrets_file)]
            settings.webhook_secrets = [*settings.webhook_secrets, *from_files]
        app = create_app(settings)
        app.state.store.open()  # fail here, with a clear message, if another process owns it
    except (SecretError, StoreError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    except ValidationError as exc:
        error = exc.errors()[0]
        where = "MMQ_" + "_".join(str(part) for part in error["loc"]).upper()
        typer.echo(f"error: invalid setting {where}: {error['msg']}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    if settings.feed_token is None:
        typer.echo("warning: MMQ_FEED_TOKEN is not set; GET /events answers 403", err=True)
    # The objects of start-up (modules, the app) live as long as the process: leave them out of
    # every garbage collection. Cyclic GC was 12 % of the event loop's time under load.
    gc.freeze()
    typer.echo(
        f"receiver: http://{settings.receiver_host}:{settings.receiver_port}/webhooks/integrations"
        f" with {len(settings.webhook_secrets)} secret(s), landing in {settings.landing_path}"
    )
    uvicorn.run(
        app,
        host=settings.receiver_host,
        port=settings.receiver_port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        ws="none",  # no WebSocket routes: no upgrade to offer
        timeout_graceful_shutdown=10,
    )
