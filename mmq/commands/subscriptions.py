"""``mmq subscriptions …``: create, inspect, switch and delete webhook subscriptions.

``create_subscription_with_secret`` is the create-and-store step as a plain function, for the
demo and scripts; the ``create`` command is a thin layer over it.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mmq.commands._common import (
    EXIT_API,
    KEY_NOTE,
    WIDE,
    ApiKeyFileOption,
    BaseUrlOption,
    CliError,
    JsonOption,
    command,
    console,
    note,
    open_client,
    print_json,
    table,
    text,
    yes_no,
)
from mmq.commands.secret_files import PendingSecretFile, default_secret_path, secrets_dir
from mmq.contract import EVENT_TYPES

if TYPE_CHECKING:
    from mmq.client import MediaMagicClient
    from mmq.client.models import Subscription

app = typer.Typer(
    name="subscriptions",
    help=f"Manage webhook subscriptions of your workspace. {KEY_NOTE}",
    no_args_is_help=True,
)

MAX_PAGES = 10_000  # --all stops here even if the API keeps reporting more pages


@dataclass(frozen=True)
class StoredSubscription:
    subscription: Subscription  # its ``secret`` is a SecretStr
    secret_file: Path


def create_subscription_with_secret(
    client: MediaMagicClient,
    endpoint_url: str,
    *,
    event_types: list[str] | tuple[str, ...] = EVENT_TYPES,
    description: str | None = None,
    data_dir: Path | None = None,
    secret_file: Path | None = None,
    force: bool = False,
) -> StoredSubscription:
    """Create a subscription and store its one-time secret in a 0600 file.

    The file is ``secret_file``, or ``<data_dir>/secrets/<subscription id>.whsec`` (data_dir
    defaults to MMQ_DATA_DIR). An existing file is replaced only with ``force``. Raises
    ``CliError`` for local problems (checked before the API is called where possible) and the
    client's ``ApiError`` for the API's answers. If the secret cannot be stored after the
    subscription was created, the subscription is deleted again: nobody could verify its events.
    """
    if secret_file is None:
        if data_dir is None:
            from mmq.settings import get_settings

            data_dir = get_settings().data_dir
        directory = secrets_dir(data_dir)
    else:
        directory = secret_file.absolute().parent
    pending = PendingSecretFile(directory, secret_file, force=force)
    try:
        subscription = client.create_subscription(endpoint_url, list(event_types), description)
    except BaseException:
        pending.discard()
        raise
    try:
        if subscription.secret is None:
            raise CliError("the API's create response holds no secret", EXIT_API)
        target = secret_file or default_secret_path(data_dir, subscription.id)
        path = pending.commit(subscription.secret.get_secret_value(), target)
    except BaseException as exc:
        pending.discard()
        _undo_create(client, subscription.id, exc)
        raise
    return StoredSubscription(subscription, path)


def _undo_create(client: MediaMagicClient, subscription_id: str, cause: BaseException) -> None:
    from mmq.client import ApiError

    reason = cause if isinstance(cause, CliError) else f"{type(cause).__name__}: {cause}"
    try:
        client.delete_subscription(subscription_id)
    except ApiError as exc:
        raise CliError(
            f"could not store the secret ({reason}), and deleting subscription "
            f"{subscription_id} failed too ({exc.status_code}); delete it yourself: "
            f"mmq subscriptions delete {subscription_id} --yes",
            EXIT_API,
        ) from None
    raise CliError(
        f"could not store the secret ({reason}); subscription {subscription_id} was deleted "
        "again, so none is left whose events nobody can verify"
    ) from None


def _event_type(value: str) -> str:
    """Full names, or the short forms ``completed`` / ``failed``."""
    for full in EVENT_TYPES:
        if value in (full, full.rsplit(".", 1)[-1]):
            return full
    raise typer.BadParameter(f"{value!r} is not one of {', '.join(EVENT_TYPES)}")


def _short_events(types: list[str]) -> str:
    return ", ".join(t.removeprefix("asset.processing.") for t in types)


def _subscriptions_table(items: list[Subscription], wide: bool):
    columns = ["id", "endpoint", "events", "enabled"]
    if wide:  # at 80 columns, description and dates are left to `get`
        columns += ["description", "created"]
    rows = table(*columns, wrap=("endpoint", "description"))
    for sub in items:
        cells = [sub.id, sub.endpoint_url, _short_events(sub.event_types), yes_no(sub.enabled)]
        if wide:
            cells += [text(sub.description), text(sub.created_at)]
        rows.add_row(*cells)
    return rows


def _subscription_details(sub: Subscription):
    from rich.table import Table

    details = Table(show_header=False, box=None, pad_edge=False)
    details.add_column(style="bold", no_wrap=True)
    details.add_column(overflow="fold")
    for label, value in (
        ("id", sub.id),
        ("endpoint", sub.endpoint_url),
        ("events", ", ".join(sub.event_types)),
        ("enabled", yes_no(sub.enabled)),
        ("description", text(sub.description)),
        ("workspace", text(sub.workspace_id)),
        ("created", text(sub.created_at)),
        ("updated", text(sub.updated_at)),
    ):
        details.add_row(label, value)
    return details


SubscriptionId = Annotated[str, typer.Argument(help="The subscription's id (a UUID).")]


@app.command("create")
@command
def create(
    url: Annotated[
        str, typer.Option("--url", help="Endpoint that receives the webhooks (https://).")
    ],
    event_type: Annotated[
        list[str] | None,
        typer.Option(
            "--event-type",
            help="asset.processing.completed or asset.processing.failed (or just completed / "
            "failed); repeatable. Default: both.",
            show_default=False,
        ),
    ] = None,
    description: Annotated[
        str | None, typer.Option(help="Free text shown in listings.", show_default=False)
    ] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(
            "--secret-file",
            help="Where to store the secret (default: $MMQ_DATA_DIR/secrets/ID.whsec).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing secret file.")
    ] = False,
    show_secret: Annotated[
        bool, typer.Option("--show-secret", help="Also print the secret itself.")
    ] = False,
    base_url: BaseUrlOption = None,
    api_key_file: ApiKeyFileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create a subscription and store its one-time webhook secret in a 0600 file.

    The API returns the whsec_ secret only in this answer. It is written to --secret-file (or
    $MMQ_DATA_DIR/secrets/ID.whsec) and only the path is printed, unless --show-secret. An
    existing file is never replaced without --force. With --json the secret field is null
    (unless --show-secret) and secretFile names the file. The API key comes from MMQ_API_KEY or
    --api-key-file, never from the command line.
    """
    types = list(dict.fromkeys(_event_type(v) for v in event_type)) if event_type else None
    with open_client(base_url, api_key_file) as (client, settings):
        stored = create_subscription_with_secret(
            client,
            url,
            event_types=types or EVENT_TYPES,
            description=description,
            data_dir=settings.data_dir,
            secret_file=secret_file,
            force=force,
        )
    sub, path = stored.subscription, stored.secret_file
    if json_output:
        raw = dict(sub.raw)
        if not show_secret:
            raw["secret"] = None
        print_json({**raw, "secretFile": str(path)})
        return
    out = console()
    out.print(f"Created subscription {sub.id}")
    out.print(_subscription_details(sub))
    out.print(f"secret:  saved to {path} (mode 0600); the API will not show it again")
    if show_secret:
        out.print(f"         {sub.secret.get_secret_value()}")
    quoted = shlex.quote(str(path))
    out.print("Give it to the receiver:")
    out.print(f"  mmq receiver --secrets-file {quoted}")
    out.print(f'  or: export MMQ_WEBHOOK_SECRETS="$(cat {quoted})"')


@app.command("list")
@command
def list_(
    page: Annotated[int, typer.Option(min=1, help="Page to show (1-based).")] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=100, help="Subscriptions per page.")] = 10,
    all_pages: Annotated[
        bool, typer.Option("--all", help="Walk every page (ignores --page).")
    ] = False,
    base_url: BaseUrlOption = None,
    api_key_file: ApiKeyFileOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the workspace's subscriptions, one page or --all.

    With --json: the API's page object; with --all, {"items": [...every item...], "total": n}.
    Secrets are never listed (the API shows them only once, on create). The API key comes from
    MMQ_API_KEY or --api-key-file, never from the command line.
    """
    with open_client(base_url, api_key_file) as (client, _settings):
        if not all_pages:
            result = client.list_subscriptions(page=page, page_size=page_size)
            if json_output:
                print_json(result.raw)
                return
            items, total = result.items, result.total
            footer = f"page {result.page} of {max(result.total_pages, 1)} · {total} in total"
        else:
            items, raw_items, total = [], [], 0
            for number in range(1, MAX_PAGES + 1):
                result = client.list_subscriptions(page=number, page_size=page_size)
                items.extend(result.items)
                raw_items.extend(result.raw.get("items", []))
                total = result.total
                if not result.items or number >= result.total_pages:
                    break
            if json_output:
                print_json({"items": raw_items, "total": total})
                return
            footer = f"{len(items)} subscriptions"
    out = console()
    if not items:
        out.print(
            "No subscriptions." if page == 1 or all_pages else f"No subscriptions on page {page}."
        )
        return
    out.print(_subscriptions_table(items, out.width >= WIDE))
    out.print(footer)


@app.command("get")
@command
def get(
    subscription_id: SubscriptionId,
    base_url: BaseUrlOption = None,
    api_key_file: ApiKeyFileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show one subscription. The API key comes from MMQ_API_KEY or --api-key-file."""
    with open_client(base_url, api_key_file) as (client, _settings):
        sub = client.get_subscription(subscription_id)
    if json_output:
        print_json(sub.raw)
    else:
        console().print(_subscription_details(sub))


def _set_enabled(subscription_id: str, enabled: bool, base_url, api_key_file, json_output) -> None:
    with open_client(base_url, api_key_file) as (client, _settings):
        sub = client.set_subscription_enabled(subscription_id, enabled)
    if json_output:
        print_json(sub.raw)
        return
    state = "enabled: webhooks will be delivered" if sub.enabled else "disabled: no deliveries"
    console().print(f"Subscription {sub.id} {state}")


@app.command("enable")
@command
def enable(
    subscription_id: SubscriptionId,
    base_url: BaseUrlOption = None,
    api_key_file: ApiKeyFileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Resume deliveries to a subscription (PATCH enabled=true).

    The API key comes from MMQ_API_KEY or --api-key-file, never from the command line.
    """
    _set_enabled(subscription_id, True, base_url, api_key_file, json_output)


@app.command("disable")
@command
def disable(
    subscription_id: SubscriptionId,
    base_url: BaseUrlOption = None,
    api_key_file: ApiKeyFileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Pause deliveries to a subscription (PATCH enabled=false); its secret stays valid.

    The API key comes from MMQ_API_KEY or --api-key-file, never from the command line.
    """
    _set_enabled(subscription_id, False, base_url, api_key_file, json_output)


@app.command("delete")
@command
def delete(
    subscription_id: SubscriptionId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    base_url: BaseUrlOption = None,
    api_key_file: ApiKeyFileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Delete a subscription (asks first unless --yes); no more webhooks go to it.

    Its secret file in $MMQ_DATA_DIR/secrets/ (if create put it there) is removed too: the
    secret is worthless once the subscription is gone. The API key comes from MMQ_API_KEY or
    --api-key-file, never from the command line.
    """
    with open_client(base_url, api_key_file) as (client, settings):
        sub = client.get_subscription(subscription_id)  # a 404 before asking, not after
        if not yes:
            try:
                confirmed = typer.confirm(
                    f"Delete subscription {sub.id} → {sub.endpoint_url}?", err=True
                )
            except typer.Abort:  # end of input: no answer is not a yes
                confirmed = False
            if not sys.stdin.isatty():
                note("")  # the answer was not echoed; end the prompt's line
            if not confirmed:
                raise CliError("not deleted (confirm, or pass --yes)", EXIT_API)
        client.delete_subscription(sub.id)
    secret_path = default_secret_path(settings.data_dir, sub.id).absolute()
    removed = secret_path.is_file()
    if removed:
        secret_path.unlink()
    if json_output:
        print_json({"deleted": sub.id, "secretFileRemoved": str(secret_path) if removed else None})
        return
    out = console()
    out.print(f"Deleted subscription {sub.id}")
    if removed:
        out.print(f"Removed its secret file {secret_path}")


class DeliveryStatus(StrEnum):
    SUCCESSFUL = "SUCCESSFUL"
    FAILED = "FAILED"


@app.command("deliveries")
@command
def deliveries(
    subscription_id: SubscriptionId,
    status: Annotated[
        DeliveryStatus | None,
        typer.Option(case_sensitive=False, help="Only attempts with this outcome."),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=200, help="At most this many attempts, newest first.")
    ] = 50,
    base_url: BaseUrlOption = None,
    api_key_file: ApiKeyFileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show the delivery attempts of a subscription, newest first.

    Every attempt is listed, retries included: an event that failed and then succeeded shows
    both. The API key comes from MMQ_API_KEY or --api-key-file, never from the command line.
    """
    with open_client(base_url, api_key_file) as (client, _settings):
        result = client.list_deliveries(
            subscription_id, status_filter=status.value if status else None, limit=limit
        )
    if json_output:
        print_json(result.raw)
        return
    out = console()
    if not result.attempts:
        out.print("No delivery attempts" + (f" with status {status.value}." if status else "."))
        return
    wide = out.width >= WIDE
    columns = ["status", "HTTP", "event id", "at"]
    rows = table(*(["attempt id", *columns] if wide else columns))
    for attempt in result.attempts:
        at = text(attempt.created_at)
        cells = [attempt.status, text(attempt.response_status), text(attempt.event_id)]
        if wide:
            rows.add_row(attempt.id, *cells, at)
        else:  # seconds are enough at 80 columns
            rows.add_row(*cells, at[:19].replace("T", " "))
    out.print(rows)
    out.print(f"{len(result.attempts)} attempts")
    if any(a.status == "FAILED" for a in result.attempts):
        note("failed attempts are retried by the API; check the receiver is up and has the secret")
