"""What the demo drives: a subscription for the receiver, then submissions like a customer's."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from mmq.client import MediaMagicClient
from mmq.commands.subscriptions import create_subscription_with_secret
from simulator.driver import ScenarioResult, run_scenario

# Simulated processing takes 2–8 s per asset and webhook retries start at 5 s; at 1/20 of
# that, 50 submissions settle in well under a minute and the pipeline sets the pace.
TIME_SCALE = 0.05
SECONDS_PER_SUBMISSION = 0.6  # the scenario spreads submissions over time, as customers do
ASSETS_PER_SUBMISSION = (1, 6)


def subscribe_receiver(api_url: str, api_key: str, webhook_url: str, data_dir: Path) -> Path:
    """Create the subscription; its one-time secret goes to a 0600 file, returned here."""
    with MediaMagicClient(api_url, api_key) as client:
        stored = create_subscription_with_secret(
            client, webhook_url, description="mmq demo receiver", data_dir=data_dir
        )
    return stored.secret_file


@dataclass
class ScenarioRunner:
    """Runs :func:`simulator.driver.run_scenario` in a thread; the demo watches its progress."""

    api_url: str
    api_key: str = field(repr=False)
    submissions: int
    seed: int = 7
    submitted: int = 0
    result: ScenarioResult | None = None
    error: BaseException | None = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="demo-scenario", daemon=True)
        self._thread.start()

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def _progress(self, what: str, count: int) -> None:
        if what == "submitted":
            self.submitted = count

    def _run(self) -> None:
        try:
            self.result = run_scenario(
                self.api_url,
                self.api_key,
                submissions=self.submissions,
                assets_per_submission=ASSETS_PER_SUBMISSION,
                duration_seconds=self.submissions * SECONDS_PER_SUBMISSION,
                concurrency=8,
                retry_failed=True,
                seed=self.seed,
                on_progress=self._progress,
            )
        except BaseException as exc:  # reported by the demo's main loop
            self.error = exc
