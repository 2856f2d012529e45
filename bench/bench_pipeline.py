"""Pipeline benchmark: simulator → receiver → sensor → runs → ``analytics.duckdb``, all real.

Every component is a real process on loopback: the API simulator and the receiver are
subprocesses, and Dagster is ``dagster-daemon run -w workspace.yaml`` on a temporary
``DAGSTER_HOME`` made from the repository's ``dagster.yaml``. The daemon evaluates the real
feed sensor, queues its runs (QueuedRunCoordinator) and launches each one as a subprocess
(DefaultRunLauncher), exactly as in production. The benchmark only creates submissions and
watches ``analytics.duckdb`` (read-only, as an analyst would) and the Dagster instance.

Phases, in one run:
  (a) backlog: N asset events land while Dagster is stopped; then the daemon starts and
      drains them. Wall time (daemon start → last event's submission in analytics.duckdb),
      runs launched, and rows/s of the load step (``submission_tables``: flattened rows from
      its materialization metadata / its STEP_START→STEP_SUCCESS time in the run's log).
  (b) steady: R events/s for D seconds while the daemon runs. Freshness per event = time its
      submission's row is first seen in analytics.duckdb − the receiver's ack (received_at).
  (c) baseline: a small sample processed one run per event (the daemon restarted with
      MMQ_PIPELINE_MAX_EVENTS_PER_RUN=1), measured like (a). Per-event cost = wall / events;
      the ratio baseline / backlog is the batching gain.

``python bench/bench_pipeline.py [--quick]``; figures are printed, with PASS/FAIL per target.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmq.client import MediaMagicClient  # noqa: E402
from mmq.contract import EVENT_TYPES  # noqa: E402
from mmq.feed import ReceiverFeed  # noqa: E402
from mmq.netutil import free_port, wait_for_http  # noqa: E402
from mmq.warehouse.schema import FLAT_TABLES  # noqa: E402
from receiver.testing import start_receiver, stop_receiver  # noqa: E402
from simulator.driver import run_scenario  # noqa: E402
from simulator.testing import new_key  # noqa: E402

TARGETS = {
    "backlog_seconds": 120.0,
    "backlog_runs": 20,
    "load_rows_per_second": 50_000.0,
    "freshness_p95_seconds": 45.0,
    "cost_ratio": 200.0,
}
ASSETS_PER_SUBMISSION = 2  # fixed, so that events per second are what we ask for


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


@dataclass
class Bench:
    work: Path
    api_key: str = field(default_factory=new_key)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    sim: subprocess.Popen | None = None
    sim_url: str = ""
    receiver = None
    daemon: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.work / "data"

    @property
    def home(self) -> Path:
        return self.work / "dagster_home"

    @property
    def analytics_path(self) -> Path:
        return self.data_dir / "analytics.duckdb"

    @property
    def feed(self) -> ReceiverFeed:
        return ReceiverFeed(self.receiver.url, self.token)

    def logfile(self, name: str):
        return open(self.work / f"{name}.log", "ab")

    # --- processes ------------------------------------------------------------------------
    def start_simulator(self, time_scale: float) -> None:
        port = free_port()
        self.sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mmq",
                "simulator",
                "--port",
                str(port),
                "--api-key",
                self.api_key,
                "--time-scale",
                str(time_scale),
                "--failure-rate",
                "0.05",
                "--allow-insecure-endpoints",
                "--rate-limit",
                "100000",
                "--rate-limit-burst",
                "100000",
            ],
            cwd=ROOT,
            stdout=self.logfile("simulator"),
            stderr=subprocess.STDOUT,
        )
        self.sim_url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{self.sim_url}/health", timeout=60, process=self.sim)

    def start_receiver(self) -> None:
        port = free_port()
        with MediaMagicClient(self.sim_url, self.api_key) as client:
            sub = client.create_subscription(
                f"http://127.0.0.1:{port}/webhooks/integrations", list(EVENT_TYPES)
            )
        self.receiver = start_receiver(
            self.data_dir,
            secrets=[sub.secret.get_secret_value()],
            feed_token=self.token,
            port=port,
            log_path=self.work / "receiver.log",
        )

    def start_daemon(self, **extra_env: str) -> None:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "MMQ_DATA_DIR": str(self.data_dir),
            "MMQ_API_BASE_URL": self.sim_url,
            "MMQ_API_KEY": self.api_key,
            "MMQ_RECEIVER_URL": self.receiver.url,
            "MMQ_FEED_TOKEN": self.token,
            "MMQ_SENSOR_INTERVAL_SECONDS": "1",
            **extra_env,
        }
        daemon = shutil.which("dagster-daemon", path=str(Path(sys.executable).parent))
        self.daemon = subprocess.Popen(
            [daemon, "run", "-w", str(ROOT / "workspace.yaml")],
            cwd=ROOT,
            env=env,
            stdout=self.logfile("dagster-daemon"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its code server and run workers stop with it
        )

    def stop_daemon(self) -> None:
        if self.daemon is None or self.daemon.poll() is not None:
            return
        os.killpg(self.daemon.pid, signal.SIGTERM)
        try:
            self.daemon.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.daemon.pid, signal.SIGKILL)
            self.daemon.wait()

    def stop(self) -> None:
        self.stop_daemon()
        if self.receiver is not None:
            stop_receiver(self.receiver)
        if self.sim is not None and self.sim.poll() is None:
            self.sim.terminate()
            self.sim.wait(30)

    # --- load -----------------------------------------------------------------------------
    def submit(self, events: int, duration: float, seed: int) -> list[str]:
        """Create submissions worth ``events`` asset events over ``duration`` seconds."""
        result = run_scenario(
            self.sim_url,
            self.api_key,
            submissions=max(1, events // ASSETS_PER_SUBMISSION),
            assets_per_submission=(ASSETS_PER_SUBMISSION, ASSETS_PER_SUBMISSION),
            duration_seconds=duration,
            concurrency=16,
            retry_failed=False,
            seed=seed,
        )
        return result.asset_ids

    def latest_seq(self) -> int:
        return self.feed.page(0, 1).latest_seq

    def wait_landed(self, seq: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        next_note = time.monotonic() + 10
        while (latest := self.latest_seq()) < seq:
            if time.monotonic() > deadline:
                raise TimeoutError(f"receiver landed seq {latest} of {seq}")
            if time.monotonic() > next_note:
                log(f"  receiver landed seq {latest}/{seq}")
                next_note += 10
            time.sleep(0.5)

    # --- observation ----------------------------------------------------------------------
    def visible_events(self, after_seq: int) -> dict[str, tuple[int, datetime]]:
        """Events after ``after_seq`` whose submission has its row in analytics.duckdb."""
        if not self.analytics_path.exists():
            return {}
        try:
            conn = duckdb.connect(str(self.analytics_path), read_only=True)
        except duckdb.Error:
            return {}
        try:
            rows = conn.execute(
                "SELECT w.event_id, w.seq, w.received_at FROM webhook_events w "
                "JOIN submissions s USING (submission_id) WHERE w.seq > ?",
                [after_seq],
            ).fetchall()
        except duckdb.CatalogException:
            return {}
        finally:
            conn.close()
        return {event_id: (seq, received) for event_id, seq, received in rows}

    def wait_visible(self, after_seq: int, until_seq: int, started: float, timeout: float) -> float:
        """Seconds from ``started`` until every event in (after, until] is in analytics."""
        want = until_seq - after_seq
        next_note = time.monotonic() + 10
        while True:
            seen = len(self.visible_events(after_seq))
            if seen >= want:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{seen}/{want} events visible after {timeout:.0f}s")
            if time.monotonic() > next_note:
                log(f"  {seen}/{want} events in analytics.duckdb, {self.runs_summary()}")
                next_note += 10
            time.sleep(0.5)

    def instance(self):
        import dagster as dg

        return dg.DagsterInstance.from_config(str(self.home))

    def runs(self, since: float = 0.0) -> list:
        import dagster as dg

        with self.instance() as instance:
            return [
                r
                for r in instance.get_run_records(
                    dg.RunsFilter(tags={"dagster/sensor_name": "receiver_feed_sensor"})
                )
                if r.create_timestamp.timestamp() >= since
            ]

    def runs_summary(self) -> str:
        runs = self.runs()
        by_status: dict[str, int] = {}
        for r in runs:
            by_status[r.dagster_run.status.value.lower()] = (
                by_status.get(r.dagster_run.status.value.lower(), 0) + 1
            )
        return f"runs {by_status or 'none yet'}"

    def wait_runs_idle(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while any(not r.dagster_run.is_finished for r in self.runs()):
            if time.monotonic() > deadline:
                raise TimeoutError("runs still in flight")
            time.sleep(1)

    def load_step_rates(self, run_ids: list[str]) -> tuple[int, float]:
        """Flattened rows and seconds of the load step (``submission_tables``) in these runs."""
        import dagster as dg

        rows, seconds = 0, 0.0
        with self.instance() as instance:
            for run_id in run_ids:
                start = end = None
                # One materialization per flattened table, with that table's row count.
                counts: dict[str, int] = {}
                for entry in instance.all_logs(run_id):
                    event = entry.dagster_event
                    if event is None or event.step_key != "submission_tables":
                        continue
                    if event.event_type == dg.DagsterEventType.STEP_START:
                        start = entry.timestamp
                    elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
                        end = entry.timestamp
                    elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
                        materialization = event.event_specific_data.materialization
                        table = materialization.asset_key.path[-1]
                        count = materialization.metadata.get("dagster/row_count")
                        if table in FLAT_TABLES and count is not None:
                            counts[table] = int(count.value)
                if start is not None and end is not None:
                    seconds += end - start
                    rows += sum(counts.values())
        return rows, seconds

    def warehouse_load_rates(self, run_ids: list[str]) -> tuple[int, float]:
        """Rows and seconds of the flatten + bulk load itself (the ``tables`` step's ``loads``
        row), without the Dagster events and checks around it."""
        conn = duckdb.connect(str(self.analytics_path), read_only=True)
        try:
            loads = conn.execute(
                "SELECT row_counts, epoch(finished_at) - epoch(started_at) FROM loads "
                "WHERE step = 'tables' AND run_id IN (SELECT unnest(?))",
                [run_ids],
            ).fetchall()
        finally:
            conn.close()
        rows = sum(sum(json.loads(counts).values()) for counts, _ in loads)
        return rows, sum(seconds for _, seconds in loads)


# --- phases ---------------------------------------------------------------------------------
def phase_backlog(bench: Bench, events: int) -> dict:
    log(f"(a) backlog: creating {events} asset events with Dagster stopped")
    base = bench.latest_seq()
    assets = bench.submit(events, duration=0.0, seed=1)
    bench.wait_landed(base + len(assets))
    until = bench.latest_seq()
    log(f"(a) {until - base} events landed; starting the Dagster daemon")
    since = time.time()
    started = time.monotonic()
    bench.start_daemon()
    wall = bench.wait_visible(base, until, started, timeout=900)
    bench.wait_runs_idle()
    runs = bench.runs(since)
    run_ids = [r.dagster_run.run_id for r in runs]
    rows, seconds = bench.load_step_rates(run_ids)
    inner_rows, inner_seconds = bench.warehouse_load_rates(run_ids)
    result = {
        "events": until - base,
        "wall_seconds": wall,
        "runs": len(runs),
        "load_rows": rows,
        "load_seconds": seconds,
        "load_rows_per_second": rows / seconds if seconds else math.nan,
        "inner_rows": inner_rows,
        "inner_seconds": inner_seconds,
    }
    log(
        f"(a) drained {result['events']} events in {wall:.1f}s with {len(runs)} run(s); "
        f"load step {rows} rows in {seconds:.2f}s (flatten + load inside it: "
        f"{inner_rows} rows in {inner_seconds:.2f}s)"
    )
    return result


def phase_steady(bench: Bench, rate: float, duration: float) -> dict:
    log(f"(b) steady: {rate:g} events/s for {duration:g}s with the daemon running")
    base = bench.latest_seq()
    first_seen: dict[str, float] = {}
    received: dict[str, datetime] = {}
    done = threading.Event()
    assets: list[str] = []

    def drive() -> None:
        try:
            assets.extend(bench.submit(int(rate * duration), duration=duration, seed=2))
        finally:
            done.set()

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    started = time.monotonic()
    next_note = started + 15
    deadline = None
    while True:
        visible = bench.visible_events(base)
        seen_at = time.time()  # after the read: a visible event was there by now
        for event_id, (_seq, received_at) in visible.items():
            if event_id not in first_seen:
                first_seen[event_id] = seen_at
                received[event_id] = received_at
        if time.monotonic() > next_note:
            log(
                f"  {time.monotonic() - started:.0f}s: landed {bench.latest_seq() - base}, "
                f"visible {len(first_seen)}, {bench.runs_summary()}"
            )
            next_note += 15
        if done.is_set():
            if deadline is None:
                deadline = time.monotonic() + 240
                log(f"(b) {len(assets)} assets submitted; waiting for the last events")
            expected = len(assets)
            landed = bench.latest_seq() - base
            if landed >= expected and len(first_seen) >= landed:
                break
            if time.monotonic() > deadline:
                log(f"(b) gave up waiting: {len(first_seen)}/{landed} visible")
                break
        time.sleep(1.0)
    freshness = [first_seen[e] - received[e].timestamp() for e in first_seen]
    result = {
        "events": len(freshness),
        "p50_seconds": statistics.median(freshness) if freshness else math.nan,
        "p95_seconds": percentile(freshness, 95),
        "max_seconds": max(freshness) if freshness else math.nan,
    }
    log(
        f"(b) freshness over {result['events']} events: p50 {result['p50_seconds']:.1f}s, "
        f"p95 {result['p95_seconds']:.1f}s, max {result['max_seconds']:.1f}s"
    )
    return result


def phase_baseline(bench: Bench, events: int) -> dict:
    log(f"(c) baseline: {events} events, one run per event")
    bench.wait_runs_idle()
    bench.stop_daemon()
    base = bench.latest_seq()
    assets = bench.submit(events, duration=0.0, seed=3)
    bench.wait_landed(base + len(assets))
    until = bench.latest_seq()
    since = time.time()
    started = time.monotonic()
    bench.start_daemon(MMQ_PIPELINE_MAX_EVENTS_PER_RUN="1")
    wall = bench.wait_visible(base, until, started, timeout=120 * (until - base) + 120)
    runs = bench.runs(since)
    result = {"events": until - base, "wall_seconds": wall, "runs": len(runs)}
    log(f"(c) {result['events']} events in {wall:.1f}s with {len(runs)} run(s)")
    return result


def report(backlog: dict, steady: dict, baseline: dict, quick: bool) -> bool:
    batched = backlog["wall_seconds"] / backlog["events"]
    single = baseline["wall_seconds"] / baseline["events"]
    ratio = single / batched
    inner_rate = (
        backlog["inner_rows"] / backlog["inner_seconds"] if backlog["inner_seconds"] else math.nan
    )
    checks = [
        (
            "backlog drain",
            f"{backlog['events']} events in {backlog['wall_seconds']:.1f}s, "
            f"{backlog['runs']} run(s)",
            backlog["wall_seconds"] <= TARGETS["backlog_seconds"]
            and backlog["runs"] <= TARGETS["backlog_runs"],
            f"<= {TARGETS['backlog_seconds']:.0f}s with <= {TARGETS['backlog_runs']} runs",
        ),
        (
            "load step",
            f"{backlog['load_rows_per_second']:,.0f} rows/s "
            f"({backlog['load_rows']} rows in {backlog['load_seconds']:.2f}s)",
            backlog["load_rows_per_second"] >= TARGETS["load_rows_per_second"],
            f">= {TARGETS['load_rows_per_second']:,.0f} rows/s",
        ),
        (
            "  inside it",
            f"flatten + bulk load alone {inner_rate:,.0f} rows/s "
            f"({backlog['inner_rows']} rows in {backlog['inner_seconds']:.2f}s)",
            inner_rate >= TARGETS["load_rows_per_second"],
            f">= {TARGETS['load_rows_per_second']:,.0f} rows/s; informative, the rest of the "
            "step is the checks and Dagster's event writes",
        ),
        (
            "freshness",
            f"p50 {steady['p50_seconds']:.1f}s, p95 {steady['p95_seconds']:.1f}s "
            f"over {steady['events']} events",
            steady["p95_seconds"] <= TARGETS["freshness_p95_seconds"],
            f"p95 <= {TARGETS['freshness_p95_seconds']:.0f}s",
        ),
        (
            "per-event cost",
            f"batched {batched * 1000:.1f} ms/event vs one run per event "
            f"{single:.1f} s/event: {ratio:,.0f}x lower",
            ratio >= TARGETS["cost_ratio"],
            f">= {TARGETS['cost_ratio']:.0f}x lower",
        ),
    ]
    print()
    print(f"pipeline benchmark{' (--quick: smaller phases, noisy)' if quick else ''}")
    for name, figure, passed, target in checks:
        print(f"  {'PASS' if passed else 'FAIL'}  {name:<15} {figure}  [target {target}]")
    return all(passed for name, _, passed, _ in checks if not name.startswith(" "))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Phases: (a) backlog drain, (b) steady-rate freshness, (c) one-run-per-event "
        "baseline. Logs of every process are kept in the work directory with --keep.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller phases: 1,000-event backlog, 60 s steady, 5-event baseline (noisy)",
    )
    parser.add_argument("--backlog-events", type=int, help="events in (a) (default 10000)")
    parser.add_argument("--rate", type=float, default=20.0, help="events/s in (b)")
    parser.add_argument("--steady-seconds", type=float, help="duration of (b) (default 300)")
    parser.add_argument("--baseline-events", type=int, help="events in (c) (default 20)")
    parser.add_argument("--time-scale", type=float, default=0.05, help="simulator clock")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    backlog_events = args.backlog_events or (1_000 if args.quick else 10_000)
    steady_seconds = args.steady_seconds or (60.0 if args.quick else 300.0)
    baseline_events = args.baseline_events or (5 if args.quick else 20)
    # Events come in pairs (two assets per submission).
    baseline_events += baseline_events % ASSETS_PER_SUBMISSION

    work = Path(tempfile.mkdtemp(prefix="mmq-bench-pipeline-"))
    bench = Bench(work)
    bench.home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", bench.home / "dagster.yaml")
    log(f"work directory {work}")
    with ExitStack() as stack:
        stack.callback(lambda: None if args.keep else shutil.rmtree(work, ignore_errors=True))
        stack.callback(bench.stop)
        bench.start_simulator(args.time_scale)
        bench.start_receiver()
        log(f"simulator {bench.sim_url}, receiver {bench.receiver.url}")
        backlog = phase_backlog(bench, backlog_events)
        steady = phase_steady(bench, args.rate, steady_seconds)
        baseline = phase_baseline(bench, baseline_events)
        ok = report(backlog, steady, baseline, args.quick)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
