"""``mmq receiver``: verify, deduplicate and land webhooks; serve the event feed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind [MMQ_RECEIVER_HOST, default 127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="TCP port [MMQ_RECEIVER_PORT, default 8000].")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where landing.duckdb lives [MMQ_DATA_DIR].")
    ] = None,
    secrets_file: Annotated[
        Path | None,
        typer.Option(help="File with one whsec_ secret per line (instead of MMQ_WEBHOOK_SECRETS)."),
    ] = None,
) -> None:
    """Receive signed MediaMagic webhooks: verify, deduplicate and land them durably in DuckDB.

    Secrets come from MMQ_WEBHOOK_SECRETS (several, space or comma separated, for rotation) or
    --secrets-file; the feed token for the pipeline from MMQ_FEED_TOKEN. Answers 2xx only after
    the event is committed. One receiver per data directory.
    """
    import uvicorn
    from pydantic import SecretStr, ValidationError

    from mmq.settings import get_settings
    from receiver.app import create_app
    from receiver.store import StoreLocked
    from receiver.verify import SecretError

    overrides: dict = {}
    if host is not None:
        overrides["receiver_host"] = host
    if port is not None:
        overrides["receiver_port"] = port
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        if secrets_file is not None:
            lines = secrets_file.read_text().split()
            overrides["webhook_secrets"] = [SecretStr(line) for line in lines if line]
        settings = get_settings(**overrides)
        app = create_app(settings)
        app.state.store.open()  # fail here, with a clear message, if another receiver owns it
    except (SecretError, StoreLocked, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except ValidationError as exc:
        typer.echo(f"error: invalid settings: {exc.errors()[0]['msg']}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"receiver: http://{settings.receiver_host}:{settings.receiver_port}/webhooks/integrations "
        f"landing in {settings.landing_path}"
    )
    uvicorn.run(
        app,
        host=settings.receiver_host,
        port=settings.receiver_port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=10,
    )
