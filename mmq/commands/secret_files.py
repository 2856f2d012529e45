"""Webhook secret files: one ``whsec_`` secret per file, mode 0600, never overwritten by accident.

The API shows a subscription's secret exactly once, in the create response. So the file is
prepared *before* the subscription is created (directory made, a private temporary file opened,
overwrite rule checked) and only the write of the secret itself is left for afterwards; if even
that fails, the caller deletes the subscription rather than leave one nobody can verify.
The format (the secret and a newline) is what ``mmq receiver --secrets-file`` reads; several
files concatenated make a valid ``MMQ_WEBHOOK_SECRETS`` value.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from mmq.commands._common import CliError

SUFFIX = ".whsec"
PREFIX = "whsec_"


def secrets_dir(data_dir: Path) -> Path:
    return data_dir / "secrets"


def default_secret_path(data_dir: Path, subscription_id: str) -> Path:
    return secrets_dir(data_dir) / f"{subscription_id}{SUFFIX}"


class PendingSecretFile:
    """A private temporary file next to where the secret will live; ``commit`` names it.

    ``path`` is the final name when known up front (``--secret-file``), else None and the
    caller passes the name (from the subscription id) to ``commit``.
    """

    def __init__(self, directory: Path, path: Path | None = None, *, force: bool = False) -> None:
        self.directory = directory
        self.path = path
        self.force = force
        if path is not None and path.exists() and not force:
            raise CliError(f"secret file {path} already exists; pass --force to replace it")
        if path is not None and path.is_dir():
            raise CliError(f"secret file {path} is a directory")
        created = not directory.exists()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if created:
            directory.chmod(0o700)  # mkdir's mode is filtered by the umask
        # mkstemp opens with O_EXCL and mode 0600 whatever the umask.
        fd, name = tempfile.mkstemp(dir=directory, prefix=".pending-", suffix=SUFFIX)
        self._fd: int | None = fd
        self._tmp = Path(name)

    def commit(self, secret: str, path: Path | None = None) -> Path:
        """Write the secret and give the file its final name; returns that name."""
        target = (path or self.path).absolute()
        assert self._fd is not None, "commit once"
        fd, self._fd = self._fd, None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secret + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if self.force:
            os.replace(self._tmp, target)
        else:
            try:
                os.link(self._tmp, target)  # atomic, and fails if the name exists meanwhile
            except FileExistsError:
                raise CliError(
                    f"secret file {target} already exists; pass --force to replace it"
                ) from None
            except OSError:  # no hard links on this file system: exclusive create instead
                _write_exclusive(target, secret)
            finally:
                self._tmp.unlink(missing_ok=True)
        return target

    def discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        with contextlib.suppress(OSError):
            self._tmp.unlink(missing_ok=True)


def _write_exclusive(target: Path, secret: str) -> None:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CliError(f"secret file {target} already exists; pass --force to replace it") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_secret_file(path: Path) -> str:
    """The first secret in a file (one per line, as the receiver reads them)."""
    try:
        words = path.read_text(encoding="utf-8").split()
    except OSError as exc:
        raise CliError(f"cannot read secret file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CliError(f"secret file {path} is not text") from None
    if not words:
        raise CliError(f"secret file {path} is empty")
    if not words[0].startswith(PREFIX):
        raise CliError(f"secret file {path} does not hold a {PREFIX} secret")
    return words[0]
