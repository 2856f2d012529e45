"""``mmq submit FILE…``: upload files and create one submission of them.

Every file is checked before the first byte is sent (readable, content type on the allowlist,
under its size cap, no two with the same name), so a bad file never leaves half a submission
behind. Files up to 10 MB go through ``POST /uploads/direct``; larger ones (or all, with
``--presigned``) through a presigned URL and a PUT streamed from disk, so a 5 GB video is never
held in memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mmq.commands._common import (
    ApiKeyFileOption,
    BaseUrlOption,
    CliError,
    JsonOption,
    command,
    console,
    open_client,
    print_json,
    table,
    text,
)
from mmq.commands.status import (
    IntervalOption,
    TimeoutOption,
    WaitOption,
    finish_wait,
    print_status,
    wait_for_terminal,
)
from mmq.contract import DIRECT_UPLOAD_LIMIT, EXTENSIONS, content_type_for, size_cap

if TYPE_CHECKING:
    from rich.progress import Progress

    from mmq.client import MediaMagicClient

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class LocalFile:
    path: Path
    filename: str  # what the API sees: the blob path is <workspace>/<filename>
    content_type: str
    size: int


def check_files(paths: list[Path]) -> list[LocalFile]:
    """Every local reason to refuse, before anything is uploaded."""
    files: list[LocalFile] = []
    seen: dict[str, Path] = {}
    for path in paths:
        if not path.is_file():
            reason = "is a directory" if path.is_dir() else "no such file"
            raise CliError(f"{path}: {reason}")
        if not os.access(path, os.R_OK):
            raise CliError(f"{path}: not readable")
        content_type = content_type_for(path.name)
        if content_type is None:
            allowed = " ".join(sorted(EXTENSIONS))
            raise CliError(
                f"{path}: file type {path.suffix or '(none)'!r} is not accepted by the API "
                f"(allowed: {allowed}); nothing was uploaded"
            )
        size = path.stat().st_size
        if size > size_cap(content_type):
            raise CliError(
                f"{path}: {_size(size)} exceeds the API's {_size(size_cap(content_type))} cap "
                f"for {content_type}; nothing was uploaded"
            )
        if path.name in seen:
            raise CliError(
                f"{path} and {seen[path.name]} have the same name; the API stores blobs by file "
                "name, so rename one"
            )
        seen[path.name] = path
        files.append(LocalFile(path, path.name, content_type, size))
    return files


def parse_metadata(value: str | None) -> dict | None:
    """A JSON object, given inline or as @FILE."""
    if value is None:
        return None
    source = "--metadata"
    if value.startswith("@"):
        source = value[1:]
        try:
            value = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read --metadata file {source}: {exc.strerror}") from None
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise CliError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CliError(f"{source} must be a JSON object, not {type(data).__name__}")
    return data


class FileChunks:
    """The file's bytes as an async iterable that starts over on every iteration.

    httpx builds a new request per attempt, so the client's retries re-read the file instead of
    sending an exhausted stream; ``on_chunk`` drives the progress bar.
    """

    def __init__(self, path: Path, size: int, on_start: Callable[[], None], on_chunk) -> None:
        self.path, self.size = path, size
        self.on_start, self.on_chunk = on_start, on_chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.on_start()
        remaining = self.size  # exactly Content-Length, even if the file grows meanwhile
        with self.path.open("rb") as handle:
            while remaining > 0:
                chunk = handle.read(min(CHUNK, remaining))
                if not chunk:
                    raise OSError(f"{self.path} shrank while it was being uploaded")
                remaining -= len(chunk)
                self.on_chunk(len(chunk))
                yield chunk


def upload(
    client: MediaMagicClient, file: LocalFile, presigned: bool, progress: Progress, task
) -> dict[str, Any]:
    """Upload one file; returns a JSON record of it (the API's answer, minus the upload URL)."""
    if not presigned and file.size <= DIRECT_UPLOAD_LIMIT:
        blob = client.upload_direct(file.filename, file.path.read_bytes(), file.content_type)
        progress.update(task, completed=file.size)
        return {"file": str(file.path), "method": "direct", **blob.raw}
    target = client.create_upload_url(file.filename, file.content_type)
    body = FileChunks(
        file.path,
        file.size,
        on_start=lambda: progress.reset(task, total=file.size),
        on_chunk=lambda n: progress.advance(task, n),
    )
    # The client's put_upload wants the bytes in memory; the same request with a stream and an
    # explicit Content-Length (Azure Blob storage refuses chunked uploads) goes through
    # client.request, which keeps its retries. The API key is not sent to the upload URL.
    headers = {
        "x-ms-blob-type": "BlockBlob",
        "content-type": file.content_type,
        "content-length": str(file.size),
    }
    client.request("PUT", target.upload_url, absolute=True, content=body, headers=headers)
    raw = {k: v for k, v in target.raw.items() if k != "uploadUrl"}  # the URL is a credential
    return {"file": str(file.path), "method": "presigned", "sizeBytes": file.size, **raw}


def _size(n: int) -> str:
    from rich.filesize import decimal

    return decimal(n)


def _progress():
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    err = console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # logs get one line per file instead of a redrawn bar
    )


@command
def main(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Media files (video, audio, image, document); the type comes from the extension.",
            show_default=False,
        ),
    ],
    metadata: Annotated[
        str | None,
        typer.Option(help="JSON object stored with the submission, or @FILE.", show_default=False),
    ] = None,
    previous_submission_id: Annotated[
        str | None,
        typer.Option(
            help="Submit the files as new versions of the same-named assets of that submission.",
            show_default=False,
        ),
    ] = None,
    sidekick_id: Annotated[
        list[str] | None,
        typer.Option("--sidekick-id", help="Sidekick (UUID) to review with; repeatable."),
    ] = None,
    presigned: Annotated[
        bool,
        typer.Option(
            "--presigned", help="Use a presigned URL for every file (always used above 10 MB)."
        ),
    ] = False,
    simulation_delay: Annotated[
        float | None,
        typer.Option(min=0, max=30, help="Sandbox keys only: processing takes this many seconds."),
    ] = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = 600.0,
    interval: IntervalOption = 2.0,
    base_url: BaseUrlOption = None,
    api_key_file: ApiKeyFileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Upload files and create one submission of them; prints the submission and asset ids.

    Every file is checked first (readable, type on the API's allowlist, under its size cap), so
    a bad one stops the command before anything is uploaded. Files up to 10 MB are uploaded
    directly, larger ones through a presigned URL, streamed from disk. With --wait: poll until
    the submission is complete (exit 0) or failed (exit 3); 4 on timeout. --json prints
    {"uploads": [...], "submission": <create answer>, "status": <final status, with --wait>}.
    The API key comes from MMQ_API_KEY or --api-key-file, never from the command line.
    """
    meta = parse_metadata(metadata)
    local = check_files(files)
    err = console(stderr=True)
    with open_client(base_url, api_key_file) as (client, _settings):
        if previous_submission_id is not None:
            client.get_submission(previous_submission_id)  # a 404 now, not after the uploads
        uploads = []
        with _progress() as progress:
            for number, file in enumerate(local, start=1):
                label = f"[{number}/{len(local)}] {file.filename}"
                task = progress.add_task(label, total=file.size)
                record = upload(client, file, presigned, progress, task)
                uploads.append(record)
                progress.remove_task(task)
                err.print(f"{label}  {_size(file.size)}  {record['method']} → {record['blobPath']}")
        assets: list[dict] = []
        for record in uploads:
            item = {"blobPath": record["blobPath"]}
            if previous_submission_id is not None:
                item["previousSubmissionId"] = previous_submission_id
            assets.append(item)
        created = client.create_submission(
            assets,
            metadata=meta,
            sidekick_ids=sidekick_id,
            simulation_delay_seconds=simulation_delay,
        )
        final = reached = None
        if wait:
            final, reached = wait_for_terminal(
                client, created.submission_id, timeout=timeout, interval=interval
            )
    if json_output:
        result: dict[str, Any] = {"uploads": uploads, "submission": created.raw}
        if final is not None:
            result["status"] = final.raw
        print_json(result)
    else:
        out = console()
        out.print(f"Submission {created.submission_id} ({text(created.status)})")
        rows = table("file", "asset id", "version", wrap=("file",))
        for file, asset in zip(local, created.assets, strict=False):
            rows.add_row(str(file.path), asset.asset_id, text(asset.version_number))
        out.print(rows)
        if final is None:
            out.print(f"Follow it: mmq status {created.submission_id} --wait")
        else:
            print_status(final)
    if final is not None:
        finish_wait(final, bool(reached), timeout)
