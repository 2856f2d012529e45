"""Run ``python -m mmq demo`` as a subprocess and find whatever it left running."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil

API_KEY = re.compile(r"sk_(test|live)_[0-9a-f]{64}")


def demo_args(*extra: str) -> list[str]:
    # Any free ports: tests run next to each other and next to a developer's own demo.
    ports = ["--simulator-port", "0", "--receiver-port", "0", "--dagster-port", "0"]
    return [sys.executable, "-m", "mmq", "demo", *ports, *extra]


def start_demo(workdir: Path, *extra: str) -> tuple[subprocess.Popen, Path]:
    """The demo in ``workdir`` (its data/ and .dagster_home/ land there); output to a file."""
    output = workdir / "demo-output.txt"
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            demo_args(*extra),
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith(("MMQ_", "DAGSTER_"))},
        )
    return process, output


def processes_of(data_dir: Path) -> list[psutil.Process]:
    """Live processes started for this demo: every service gets MMQ_DATA_DIR=<data_dir>."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE or proc.pid == os.getpid():
                continue
            if proc.environ().get("MMQ_DATA_DIR") == str(data_dir):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def wait_for_no_processes(data_dir: Path, grace: float = 10.0) -> list[psutil.Process]:
    """Processes still alive after ``grace`` seconds (a SIGKILLed group may take a moment)."""
    deadline = time.monotonic() + grace
    while (left := processes_of(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def wait_for_text(path: Path, text: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise AssertionError(f"demo exited {process.returncode}:\n{path.read_text()}")
        time.sleep(0.25)
    raise AssertionError(f"{text!r} not printed within {timeout}s:\n{path.read_text()}")
