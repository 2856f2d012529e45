"""What every API command shares: options, client construction, output and error handling.

Exit codes (the same for every command, so scripts can rely on them):
0 success · 1 the API or the network said no · 2 bad usage or local input (file, JSON, missing
key) · 3 the command ran but the outcome is negative (webhook not delivered, submission failed)
· 4 ``--wait`` timed out · 130 interrupted.
"""

from __future__ import annotations

import functools
import http
import inspect
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from mmq.client import ApiError, MediaMagicClient
    from mmq.settings import Settings

EXIT_API = 1
EXIT_USAGE = 2
EXIT_OUTCOME = 3
EXIT_TIMEOUT = 4
EXIT_INTERRUPTED = 130

# The CLI gives up sooner than the pipeline: a person is waiting. 4 attempts means at most
# 0.5 + 1 + 2 s of backoff (tenacity's jittered exponential) before "cannot reach the API".
CLI_MAX_ATTEMPTS = 4
API_PREFIX = "/api/integrations"
KEY_NOTE = (
    "The API key comes from MMQ_API_KEY or --api-key-file, never from the command line "
    "(it would show in ps and shell history)."
)

BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="API root, e.g. https://mm-midmarket-integrations-api-preview.azurewebsites.net "
        "or a local simulator [MMQ_API_BASE_URL, default http://127.0.0.1:8100].",
        show_default=False,
    ),
]
ApiKeyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--api-key-file",
        help="File holding the API key (sk_live_… or sk_test_…) instead of MMQ_API_KEY.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the API's JSON (machine-readable) instead of a table.")
]


class CliError(Exception):
    """A problem the user can fix locally; printed as one line, exit code ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


# --- output ---------------------------------------------------------------------------------
def console(stderr: bool = False) -> Console:
    """A rich console for tables and progress. Markup is off: API text is printed verbatim."""
    from rich.console import Console

    out = Console(stderr=stderr, markup=False, highlight=False, emoji=False, soft_wrap=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = 200  # piped output: do not fold ids into several lines
    return out


WIDE = 120  # below this (an 80-column terminal), tables drop or move their wide columns


def table(*columns: str, wrap: tuple[str, ...] = ()):
    """A compact table: ids never fold; only the ``wrap`` columns (free text) give way."""
    from rich import box
    from rich.table import Table

    out = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for name in columns:
        if name in wrap:
            out.add_column(name, overflow="fold", min_width=8)
        else:
            out.add_column(name, no_wrap=True)
    return out


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def note(message: str) -> None:
    """Progress or advice for the person at the terminal: stderr, so stdout stays parseable."""
    typer.echo(message, err=True)


def fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(code)


def yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


def text(value: Any) -> str:
    return "—" if value is None or value == "" else str(value)


_SECRET_PATTERN = re.compile(r"\b(sk_(?:live|test)_)[0-9A-Za-z]{8,}|\b(whsec_)[A-Za-z0-9+/=]{8,}")


def one_line(message: str, limit: int = 400) -> str:
    """Whitespace collapsed, secrets masked, bounded: an error never spans lines or leaks."""
    flat = " ".join(str(message).split())
    flat = _SECRET_PATTERN.sub(lambda m: (m.group(1) or m.group(2)) + "…", flat)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- errors ---------------------------------------------------------------------------------
HINTS = {
    400: "the request is not allowed with this key (simulationDelaySeconds needs an sk_test_ key)",
    401: "check MMQ_API_KEY or --api-key-file: it must be a valid sk_live_/sk_test_ key "
    "of your workspace",
    402: "your plan lacks Integrations API access; contact MediaMagic",
    403: "this key or workspace may not do this (sandbox-only endpoint with a live key, "
    "a file name the API refuses, or another workspace's resource)",
    404: "check the id: it does not exist or belongs to another workspace",
    409: "the resource is not in a state that allows this",
    413: "the file is too large for this upload method; try --presigned",
    415: "the content type is not on the API's allowlist (see mmq submit --help)",
    422: "the request failed validation; fix what the detail names",
    429: "rate limited even after retries; wait a minute and try again",
}


def describe_api_error(exc: ApiError) -> str:
    from mmq.client import TransportError

    if isinstance(exc, TransportError):
        where = getattr(exc, "base_url", None) or "the configured URL"
        return (
            f"cannot reach the API at {where} ({exc.detail}) — is it running? "
            "check --base-url / MMQ_API_BASE_URL"
        )
    detail = exc.detail
    if isinstance(detail, list):  # FastAPI validation shape: loc + msg per problem
        detail = "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}"
            if isinstance(d, dict)
            else str(d)
            for d in detail
        )
    elif isinstance(detail, dict):
        detail = json.dumps(detail, ensure_ascii=False)
    try:
        reason = http.HTTPStatus(exc.status_code).phrase
    except ValueError:
        reason = "error"
    path = exc.path.split("?", 1)[0]  # presigned upload URLs carry a SAS token in the query
    hint = HINTS.get(exc.status_code)
    if hint is None:
        hint = "the API had a problem (even after retries); try again later"
    return f"{exc.status_code} {reason} on {exc.method} {path}: {text(detail)} — {hint}"


def reflow(doc: str | None) -> str | None:
    """Join the lines of each paragraph: typer's rich help keeps the docstring's line breaks."""
    if doc is None:
        return None
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def command(func: Callable[..., Any]) -> Callable[..., Any]:
    """The error boundary of a command: every expected failure becomes one line on stderr.

    It also reflows the docstring, which typer shows as the command's help.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from pydantic import ValidationError

        from mmq.client import ApiError

        try:
            return func(*args, **kwargs)
        except CliError as exc:
            fail(str(exc), exc.code)
        except ApiError as exc:
            fail(describe_api_error(exc), EXIT_API)
        except ValidationError as exc:
            # Either our settings (MMQ_* values) or an answer that is not the API's shape.
            first = exc.errors()[0] if exc.errors() else {}
            where = ".".join(str(p) for p in first.get("loc", ()))
            message = f"{exc.title}{'.' + where if where else ''}: {first.get('msg', exc)}"
            if exc.title == "Settings":
                fail(f"invalid setting {message} — check your MMQ_* environment", EXIT_USAGE)
            fail(
                f"unexpected answer from the API ({message}) — is --base-url the Integrations API?",
                EXIT_API,
            )
        except OSError as exc:
            name = f"{exc.filename}: " if exc.filename else ""
            fail(f"{name}{exc.strerror or exc}", EXIT_USAGE)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)

    wrapper.__doc__ = reflow(func.__doc__)
    return wrapper


# --- settings and client ----------------------------------------------------------------------
def read_api_key_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        content = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CliError(f"cannot read API key file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CliError(f"API key file {path} is not text") from None
    if not content:
        raise CliError(f"API key file {path} is empty")
    if len(content.split()) != 1:
        raise CliError(f"API key file {path} must hold exactly one key")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        note(f"warning: API key file {path} is readable by other users; chmod 600 it")
    return content


def load_settings(base_url: str | None, api_key_file: Path | None, need_key: bool = True):
    from pydantic import SecretStr

    from mmq.settings import get_settings

    overrides: dict[str, Any] = {}
    if base_url is not None:
        overrides["api_base_url"] = base_url
    if api_key_file is not None:
        overrides["api_key"] = SecretStr(read_api_key_file(api_key_file))
    settings = get_settings(**overrides)
    url = settings.api_base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise CliError(f"base URL {url!r} must start with http:// or https://")
    # Accept the API root with its path prefix too: the client adds the prefix itself.
    settings.api_base_url = url.removesuffix(API_PREFIX)
    if need_key and not (settings.api_key and settings.api_key.get_secret_value().strip()):
        raise CliError(
            "no API key: set MMQ_API_KEY or pass --api-key-file PATH "
            "(a file holding your sk_live_/sk_test_ key)"
        )
    return settings


def _is_loopback(url: str) -> bool:
    import httpx

    host = httpx.URL(url).host
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")


@contextmanager
def open_client(
    base_url: str | None, api_key_file: Path | None, *, need_key: bool = True
) -> Iterator[tuple[MediaMagicClient, Settings]]:
    """The sync client for these flags and MMQ_* settings; closed when the block ends."""
    from mmq.client import MediaMagicClient, TransportError

    settings = load_settings(base_url, api_key_file, need_key)
    if settings.api_base_url.startswith("http://") and not _is_loopback(settings.api_base_url):
        note("warning: plain http:// to a non-local host sends the API key unencrypted")
    overrides: dict[str, Any] = {}
    if "api_max_attempts" not in settings.model_fields_set:
        overrides["max_attempts"] = CLI_MAX_ATTEMPTS
    try:
        with MediaMagicClient.from_settings(settings, **overrides) as client:
            yield client, settings
    except TransportError as exc:
        exc.base_url = settings.api_base_url  # so that the error line can name it
        raise
