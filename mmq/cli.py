"""The ``mmq`` command line: one entry point, one sub-command per component.

Heavy imports (Dagster, DuckDB, uvicorn) happen inside each command, so ``mmq --help`` stays fast.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="mmq",
    help="MediaMagic quality: receive Integrations API webhooks and turn them into quality data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold secrets
    add_completion=False,
    # Markdown: docstrings wrap to the terminal (blank lines split paragraphs), so help reads
    # well at 80 columns.
    rich_markup_mode="markdown",
)


@app.callback()
def _root() -> None:
    """MediaMagic quality: receive Integrations API webhooks and turn them into quality data."""


# --- sub-commands: each component registers its own below (one line each) ---
from simulator import cli as simulator_cli  # noqa: E402

app.command("simulator")(simulator_cli.main)
from receiver import cli as receiver_cli  # noqa: E402

app.command("receiver")(receiver_cli.main)
from mmq.commands import status as status_cmd  # noqa: E402
from mmq.commands import submit as submit_cmd  # noqa: E402
from mmq.commands import subscriptions as subscriptions_cmd  # noqa: E402
from mmq.commands import webhook_test as webhook_test_cmd  # noqa: E402

app.add_typer(subscriptions_cmd.app, name="subscriptions")
app.command("webhook-test")(webhook_test_cmd.main)
app.command("submit")(submit_cmd.main)
app.command("status")(status_cmd.main)
app.command("retry")(status_cmd.retry)
from mmq.demo import command as demo_cmd  # noqa: E402

app.command("demo")(demo_cmd.main)
