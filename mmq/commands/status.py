"""``mmq status`` and ``mmq retry``: where a submission stands, and another go for failed assets."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from mmq.commands._common import (
    EXIT_INTERRUPTED,
    EXIT_OUTCOME,
    EXIT_TIMEOUT,
    WIDE,
    ApiKeyFileOption,
    BaseUrlOption,
    CliError,
    JsonOption,
    command,
    console,
    fail,
    note,
    open_client,
    print_json,
    table,
    text,
    yes_no,
)

if TYPE_CHECKING:
    from mmq.client import MediaMagicClient
    from mmq.client.models import Submission

TERMINAL = ("complete", "completed", "failed")

WaitOption = Annotated[
    bool, typer.Option("--wait", help="Poll until the submission is complete or failed.")
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", min=1, help="With --wait: give up after this many seconds.")
]
IntervalOption = Annotated[
    float, typer.Option("--interval", min=0.05, help="With --wait: seconds between polls.")
]


def is_terminal(sub: Submission) -> bool:
    return (sub.status or "").lower() in TERMINAL


def wait_for_terminal(
    client: MediaMagicClient, submission_id: str, *, timeout: float, interval: float
) -> tuple[Submission, bool]:
    """Poll until terminal or ``timeout``; returns (last status, reached terminal)."""
    deadline = time.monotonic() + timeout
    last_line = None
    while True:
        sub = client.get_submission(submission_id)
        done = sum((a.status or "").lower() in TERMINAL for a in sub.assets)
        line = f"{sub.status} {text(sub.progress_percent)}% ({done} of {len(sub.assets)} assets)"
        if line != last_line:
            note(f"waiting: {line}")
            last_line = line
        if is_terminal(sub):
            return sub, True
        if time.monotonic() + interval > deadline:
            return sub, False
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            raise CliError(
                f"stopped waiting; the submission goes on: mmq status {submission_id}",
                EXIT_INTERRUPTED,
            ) from None


def print_status(sub: Submission) -> None:
    out = console()
    out.print(
        f"Submission {sub.submission_id}: {sub.status}, {text(sub.progress_percent)}% "
        f"(created {text(sub.created_at)}, completed {text(sub.completed_at)})"
    )
    if sub.error_message:
        out.print(f"error: {sub.error_message} (retryable: {yes_no(sub.is_retryable)})")
    wide = out.width >= WIDE
    if wide:
        columns = ("asset id", "file", "status", "issues", "error", "retryable", "retries")
    else:  # 80 columns: errors go below the table, so that ids are never cut
        columns = ("asset id", "file", "status", "issues", "retries")
    rows = table(*columns, wrap=("file", "error"))
    errors = []
    for asset in sub.assets:
        error = asset.error_message
        if error and asset.error_type:
            error = f"{asset.error_type}: {error}"
        retryable = yes_no(asset.is_retryable) if error else "—"
        cells = [asset.asset_id, text(asset.filename), text(asset.status), text(asset.issue_count)]
        if wide:
            cells += [text(error), retryable]
        elif error:
            errors.append(f"{asset.asset_id}: {error} (retryable: {retryable})")
        rows.add_row(*cells, text(asset.retry_count))
    out.print(rows)
    for line in errors:
        out.print(line)


def finish_wait(sub: Submission, reached: bool, timeout: float) -> None:
    """The exit code of a --wait: 0 complete, 3 failed, 4 still running."""
    if not reached:
        fail(
            f"submission {sub.submission_id} still {sub.status} after {timeout:g} s; "
            f"check later: mmq status {sub.submission_id}",
            EXIT_TIMEOUT,
        )
    if (sub.status or "").lower() == "failed":
        failed = [a for a in sub.assets if (a.status or "").lower() == "failed" or a.error_message]
        retryable = sum(bool(a.is_retryable) for a in failed)
        hint = f"; retry with: mmq retry {sub.submission_id}" if retryable else ""
        fail(
            f"submission {sub.submission_id} failed: {len(failed)} of {len(sub.assets)} assets "
            f"failed, {retryable} retryable{hint}",
            EXIT_OUTCOME,
        )


@command
def main(
    submission_id: Annotated[str, typer.Argument(help="The submission's id (a UUID).")],
    wait: WaitOption = False,
    timeout: TimeoutOption = 600.0,
    interval: IntervalOption = 2.0,
    base_url: BaseUrlOption = None,
    api_key_file: ApiKeyFileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show a submission's status and a table of its assets.

    Per asset: status, issue count, error, whether the error is retryable, retries so far.
    --json prints the API's answer as is. With --wait: exit 0 when complete, 3 when failed,
    4 on timeout. The API key comes from MMQ_API_KEY or --api-key-file, never from the
    command line.
    """
    with open_client(base_url, api_key_file) as (client, _settings):
        if wait:
            sub, reached = wait_for_terminal(
                client, submission_id, timeout=timeout, interval=interval
            )
        else:
            sub, reached = client.get_submission(submission_id), True
    if json_output:
        print_json(sub.raw)
    else:
        print_status(sub)
    if wait:
        finish_wait(sub, reached, timeout)


@command
def retry(
    submission_id: Annotated[str, typer.Argument(help="The submission's id (a UUID).")],
    asset_ids: Annotated[
        list[str] | None,
        typer.Argument(
            help="Assets to retry (default: every failed, retryable asset).", show_default=False
        ),
    ] = None,
    base_url: BaseUrlOption = None,
    api_key_file: ApiKeyFileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Retry failed assets of a submission (all failed, retryable ones unless named).

    Each retried asset is processed again and sends a new webhook event when it settles. The
    API refuses (409) assets that are not failed, not retryable, at the retry cap or already
    being retried. Follow with: mmq status SUBMISSION_ID --wait. The API key comes from
    MMQ_API_KEY or --api-key-file, never from the command line.
    """
    from mmq.client import Conflict

    with open_client(base_url, api_key_file) as (client, _settings):
        if not asset_ids:
            sub = client.get_submission(submission_id)
            failed = [
                a
                for a in sub.assets
                if (a.status or "").lower() == "failed" or (a.status is None and a.error_message)
            ]
            asset_ids = [a.asset_id for a in failed if a.is_retryable]
            if not asset_ids:
                note(
                    f"nothing to retry: {len(failed)} failed assets in {submission_id}, "
                    "none retryable"
                )
                if json_output:
                    print_json([])
                return
        answers = []
        for asset_id in asset_ids:
            try:
                answers.append(client.retry_asset(submission_id, asset_id).raw)
            except Conflict as exc:
                exc.detail = f"{exc.detail} (asset {asset_id}; see mmq status {submission_id})"
                raise
            if not json_output:
                console().print(f"Retrying asset {asset_id}")
    if json_output:
        print_json(answers)
    else:
        console().print(f"Follow it: mmq status {submission_id} --wait")
