"""Run a real receiver as a subprocess on loopback, for tests, benchmarks and the demo."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mmq.netutil import free_port, wait_for_http


@dataclass
class ReceiverHandle:
    url: str
    feed_token: str
    process: subprocess.Popen
    data_dir: Path

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/webhooks/integrations"


def start_receiver(
    data_dir: Path,
    *,
    secrets: list[str],
    feed_token: str,
    port: int | None = None,
    extra_env: dict | None = None,
    log_path: Path | None = None,
) -> ReceiverHandle:
    port = port or free_port()
    env = {
        **os.environ,
        "MMQ_WEBHOOK_SECRETS": " ".join(secrets),
        "MMQ_FEED_TOKEN": feed_token,
        "MMQ_DATA_DIR": str(data_dir),
        **(extra_env or {}),
    }
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "receiver", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT if log_path else None,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/healthz", timeout=60, process=process)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return ReceiverHandle(url, feed_token, process, Path(data_dir))


def stop_receiver(handle: ReceiverHandle, timeout: float = 20) -> int:
    if handle.process.poll() is None:
        handle.process.send_signal(signal.SIGTERM)
        try:
            handle.process.wait(timeout)
        except subprocess.TimeoutExpired:
            handle.process.kill()
            handle.process.wait()
    return handle.process.returncode


@contextmanager
def running_receiver(
    data_dir: Path,
    *,
    secrets: list[str],
    feed_token: str,
    port: int | None = None,
    extra_env: dict | None = None,
) -> Iterator[ReceiverHandle]:
    handle = start_receiver(
        data_dir, secrets=secrets, feed_token=feed_token, port=port, extra_env=extra_env
    )
    try:
        yield handle
    finally:
        stop_receiver(handle)
