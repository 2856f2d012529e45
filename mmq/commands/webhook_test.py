"""``mmq webhook-test``: have the API send one signed test event to an endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmq.commands._common import (
    EXIT_OUTCOME,
    BaseUrlOption,
    CliError,
    JsonOption,
    command,
    console,
    fail,
    open_client,
    print_json,
    text,
)
from mmq.commands.secret_files import PREFIX, read_secret_file


def _secret(secret_file: Path | None, settings) -> str:
    if secret_file is not None:
        return read_secret_file(secret_file)
    if settings.webhook_secrets:
        value = settings.webhook_secrets[0].get_secret_value().strip()
        if not value.startswith(PREFIX):
            raise CliError(f"the first entry of MMQ_WEBHOOK_SECRETS does not start with {PREFIX}")
        return value
    raise CliError(
        "no webhook secret: pass --secret-file PATH (as written by mmq subscriptions create) "
        "or set MMQ_WEBHOOK_SECRETS"
    )


def _why_not(status: int | None) -> str:
    if status is None:
        return "no answer (connection failed or timed out): is the endpoint up and reachable?"
    if status in (401, 403):
        return f"the endpoint answered {status}: it does not hold this secret"
    return f"the endpoint answered {status}, not 2xx"


@command
def main(
    url: Annotated[str, typer.Option("--url", help="Endpoint to send the test event to.")],
    secret_file: Annotated[
        Path | None,
        typer.Option(
            "--secret-file",
            help="File holding the whsec_ secret to sign with (default: the first entry of "
            "MMQ_WEBHOOK_SECRETS).",
            show_default=False,
        ),
    ] = None,
    base_url: BaseUrlOption = None,
    json_output: JsonOption = False,
) -> None:
    """Check an endpoint's signature setup: the API signs one synthetic event and sends it.

    Calls POST /health/webhook-test (no API key needed) with the endpoint and the whsec_ secret
    from --secret-file or the first entry of MMQ_WEBHOOK_SECRETS; the secret is never printed.
    The event carries "test": true, so receivers land it but never process it as real work.
    Exits 0 when the endpoint answered 2xx, 3 when it did not.
    """
    with open_client(base_url, None, need_key=False) as (client, settings):
        secret = _secret(secret_file, settings)
        result = client.webhook_test(url, secret)
    if json_output:
        print_json(result.raw)
    else:
        out = console()
        verdict = "yes" if result.delivered else "no"
        out.print(f"delivered: {verdict}  (HTTP {text(result.response_status)})")
        out.print(f"event id:  {text(result.event_id)}")
    if not result.delivered:
        fail(f"test event not delivered to {url}: {_why_not(result.response_status)}", EXIT_OUTCOME)
