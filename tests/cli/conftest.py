"""Fixtures for the CLI tests: a real simulator on loopback, one fresh workspace per test.

Commands run in-process through typer's CliRunner on ``mmq.cli.app``; ``run`` checks on every
call that the API key never appears in the output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmq.cli import app
from mmq.netutil import free_port, wait_for_http
from simulator.testing import SimHandle, new_key, running_simulator

TEST_KEYS = 40  # one workspace per test that needs isolation; the simulator limits 10 subs each
MMQ_BIN = Path(sys.executable).with_name("mmq")  # the console script of this environment


@pytest.fixture(scope="session")
def sim() -> Iterator[SimHandle]:
    """Fast and healthy: processing takes 20–80 ms, nothing fails; one live key at the end."""
    keys = [new_key() for _ in range(TEST_KEYS)] + [new_key("live")]
    with running_simulator(keys, time_scale=0.01, failure_rate=0.0) as handle:
        handle.free_keys = list(keys[:-1])
        handle.live_key = keys[-1]
        yield handle


@pytest.fixture(scope="session")
def failing_sim() -> Iterator[SimHandle]:
    """Every first processing attempt fails, retryably."""
    with running_simulator(time_scale=0.01, failure_rate=1.0, retryable_share=1.0) as handle:
        yield handle


@dataclass
class Cli:
    """Runs ``mmq …`` in-process with a clean MMQ_* environment for one workspace."""

    sim: SimHandle
    key: str
    data_dir: Path
    runner: CliRunner

    def env(self, **extra: str | None) -> dict[str, str | None]:
        env: dict[str, str | None] = {
            name: None for name in os.environ if name.startswith("MMQ_")
        }  # nothing from the developer's shell leaks in
        env |= {
            "MMQ_API_BASE_URL": self.sim.base_url,
            "MMQ_API_KEY": self.key,
            "MMQ_DATA_DIR": str(self.data_dir),
            "COLUMNS": "250",
        }
        return env | extra

    def __call__(self, *args: str, input: str | None = None, **env: str | None):
        result = self.runner.invoke(app, list(args), input=input, env=self.env(**env))
        for secret in (self.key, *self.sim.api_keys):
            assert secret not in result.output, "an API key was printed"
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # an unexpected exception is a bug: show it
        return result

    def subscriptions(self) -> dict:
        """The simulator's subscriptions of this workspace, by id."""
        return {
            sid: sub
            for sid, sub in self.sim.state.subscriptions.items()
            if sub.workspace_id == self.workspace_id
        }

    @property
    def workspace_id(self) -> str:
        from simulator.state import workspace_for_key

        return workspace_for_key(self.key)

    def blobs(self) -> dict:
        return {
            path: blob
            for path, blob in self.sim.state.blobs.items()
            if blob.workspace_id == self.workspace_id
        }


@pytest.fixture
def cli(sim: SimHandle, tmp_path: Path) -> Cli:
    if not sim.free_keys:
        pytest.fail(f"raise TEST_KEYS in {__file__}: every workspace is used")
    return Cli(sim, sim.free_keys.pop(), tmp_path / "data", CliRunner())


def assert_error_line(result, exit_code: int, *fragments: str, others_may_start=()) -> str:
    """A failure: the exit code, exactly one ``error:`` line on stderr, no traceback."""
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    others = [line for line in result.stderr.splitlines() if line and not line.startswith("error:")]
    allowed = ("warning:", "waiting:", "[", *others_may_start)  # progress, not errors
    assert all(line.startswith(allowed) for line in others), others
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


@contextmanager
def mmq_receiver(data_dir: Path, port: int, secrets_file: Path) -> Iterator[str]:
    """``mmq receiver --secrets-file`` as a real subprocess of the console script."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMQ_")}
    env |= {"MMQ_DATA_DIR": str(data_dir), "MMQ_FEED_TOKEN": "feed-token-for-cli-tests"}
    process = subprocess.Popen(
        [str(MMQ_BIN), "receiver", "--port", str(port), "--secrets-file", str(secrets_file)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/healthz", timeout=60, process=process)
        yield f"{url}/webhooks/integrations"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


@pytest.fixture
def dead_url() -> str:
    """An http URL nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"
