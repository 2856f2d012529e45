"""Supervise the demo's child processes: one process group each, a log file each.

Every service starts in its own session, so its own children (Dagster code servers and run
workers) share its process group: stopping the group stops them too, and a Ctrl-C in the
terminal reaches only the demo, which then stops the services in order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

LOG_TAIL_LINES = 15


class DemoError(RuntimeError):
    """A part of the demo failed; the message is one clear line (plus an optional log tail)."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``port`` can be bound on ``host`` now (a listening socket there makes it busy)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Service:
    """One child process: how to start it, where it logs, how to tell that it is up."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(repr=False)
    log_path: Path
    ready: Callable[[], bool] | None = None  # True once the service answers
    ready_timeout: float = 120.0
    process: subprocess.Popen | None = None

    def start(self, cwd: Path) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group, see the module docstring
            )

    def failure(self, what: str) -> DemoError:
        return DemoError(f"{self.name} {what}; see {self.log_path}", tail(self.log_path))

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise self.failure(f"exited unexpectedly with code {self.process.returncode}")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise self.failure(f"failed to start (exit code {self.process.returncode})")
            try:
                if self.ready is None or self.ready():
                    return
            except (httpx.HTTPError, OSError, RuntimeError):
                pass  # not listening yet, or up but not answering sensibly yet
            if time.monotonic() > deadline:
                raise self.failure(f"did not become ready within {self.ready_timeout:.0f}s")
            time.sleep(0.25)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the whole group, wait for it to empty, then SIGKILL what is left."""
        if self.process is None:
            return
        pgid = self.process.pid  # start_new_session: the leader's pid is the group id
        _signal_group(pgid, signal.SIGTERM)
        if not self._wait_group_gone(pgid, timeout):
            _signal_group(pgid, signal.SIGKILL)
            self._wait_group_gone(pgid, 5.0)  # SIGKILL is not instantaneous either
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def _wait_group_gone(self, pgid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.process.poll()  # reap the leader so it does not linger as a zombie
            if not _group_alive(pgid):
                return True
            time.sleep(0.1)
        return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is left in the group (zombies are reaped by init)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


@dataclass
class Services:
    """The demo's services, started in order and stopped in reverse order."""

    cwd: Path
    started: list[Service] = field(default_factory=list)

    def start(self, service: Service, *, wait: bool = True) -> Service:
        service.start(self.cwd)
        self.started.append(service)
        if wait:
            service.wait_ready()
        return service

    def check_alive(self) -> None:
        for service in self.started:
            service.check_alive()

    def stop_all(self, timeout: float = 15.0) -> None:
        for service in reversed(self.started):
            service.stop(timeout)
