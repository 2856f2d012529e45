"""``mmq demo``: start every part, subscribe, drive a scenario, show progress and a summary."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

PORTS = "Ports (127.0.0.1; 0 = any free port)"
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
POLL_SECONDS = 1.0
QUIET_STATUS_SECONDS = 10.0  # without a terminal: one status line this often, not a live bar


def main(
    submissions: Annotated[
        int, typer.Option(min=1, max=2000, help="Submissions the scenario creates (1–6 assets).")
    ] = 50,
    exit_when_done: Annotated[
        bool,
        typer.Option(
            "--exit-when-done", help="Stop everything and exit once the summary is printed."
        ),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            help="Seconds the scenario may take, from the first submission to the last report; "
            "exceeded: stop and exit non-zero."
        ),
    ] = 900.0,
    data_dir: Annotated[
        Path, typer.Option(help="Landing, warehouse, analytics, reports and logs.")
    ] = Path("data"),
    dagster_home: Annotated[Path, typer.Option(help="DAGSTER_HOME (SQLite storage).")] = Path(
        ".dagster_home"
    ),
    simulator_port: Annotated[int, typer.Option(rich_help_panel=PORTS)] = 8100,
    receiver_port: Annotated[int, typer.Option(rich_help_panel=PORTS)] = 8000,
    dagster_port: Annotated[int, typer.Option(help="Dagster UI.", rich_help_panel=PORTS)] = 3000,
    seed: Annotated[int, typer.Option(help="Seed of the scenario and the simulator.")] = 7,
) -> None:
    """Run the whole product locally and drive a realistic scenario through it.

    Starts the API simulator, the receiver and Dagster (webserver + daemon), subscribes the
    receiver to the simulator's webhooks (the one-time secret goes to the receiver through a
    0600 file), makes sure the feed sensor is running, then creates submissions with a few
    failures and retries at 20x speed. Live progress shows events landed, Dagster runs and
    reports written; once every report is written the daily digest job runs once, a summary
    table is printed and the services stay up until Ctrl-C (or stop at once with
    --exit-when-done).

    Every run starts fresh: DATA_DIR and DAGSTER_HOME are emptied first, but only if a previous
    demo created them (a .mmq-demo marker); a directory holding other data stops the demo.
    Service logs go to DATA_DIR/logs/*.log. The API key, feed token and webhook secret are
    generated for each run and never printed.

    Exit codes: 0 done (or Ctrl-C after the summary), 1 a part failed to start or failed,
    a run failed or the scenario timed out, 130 interrupted before the summary.
    """
    from rich.console import Console
    from rich.text import Text

    from mmq.demo.services import DemoError

    # Without a terminal (CI, a pipe) rich would wrap at 80 columns and cut the ids.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    errors = Console(stderr=True, highlight=False)
    demo = Demo(
        submissions=submissions,
        timeout=timeout,
        data_dir=data_dir.absolute(),
        dagster_home=dagster_home.absolute(),
        ports={
            "simulator": simulator_port,
            "receiver": receiver_port,
            "Dagster webserver": dagster_port,
        },
        seed=seed,
        console=console,
    )
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    code = 0
    try:
        demo.run()
        if not exit_when_done:
            console.print("\nEverything stays up; press [bold]Ctrl-C[/] to stop the services.")
            demo.wait_forever()
    except DemoError as error:
        errors.print(Text.assemble(("error: ", "bold red"), str(error)), soft_wrap=True)
        if error.log_tail:
            errors.print(_indent(error.log_tail), markup=False, highlight=False)
        code = EXIT_FAILED
    except Exception as error:  # anything unforeseen: one line, the services still stopped
        message = f"unexpected {type(error).__name__}: {error}; logs in {demo.paths.logs}"
        errors.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
        code = EXIT_FAILED
    except KeyboardInterrupt:
        if not demo.finished:
            errors.print("interrupted before the scenario completed", soft_wrap=True)
            code = EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the clean-up
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.shutdown()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if code:
        raise typer.Exit(code)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


class Demo:
    def __init__(self, *, submissions, timeout, data_dir, dagster_home, ports, seed, console):
        from mmq.demo.services import Services
        from mmq.demo.workdir import DemoPaths

        self.submissions = submissions
        self.timeout = timeout
        self.paths = DemoPaths(data_dir, dagster_home)
        self.ports = dict(ports)
        self.seed = seed
        self.console = console
        self.services = Services(cwd=Path.cwd())
        self.instance = None
        self.finished = False
        self.started_at = time.monotonic()
        # Generated per run, handed to children through their environment, never printed.
        from simulator.testing import new_key

        self._api_key = new_key()
        self._feed_token = secrets.token_urlsafe(32)

    # --- start-up ---------------------------------------------------------------------------

    def run(self) -> None:
        self._reserve_ports()
        self.paths.prepare()
        self._start_simulator()
        secret_file = self._subscribe()
        self._start_receiver(secret_file)
        ui = self._start_dagster()
        self._ensure_sensor(ui)
        summary = self._drive(ui)
        self.finished = True
        from mmq.demo.summary import render_summary

        self.console.print(render_summary(summary, self.console.width))

    def _reserve_ports(self) -> None:
        from mmq.demo.services import DemoError, port_is_free
        from mmq.netutil import free_port

        for part, port in self.ports.items():
            if port == 0:
                self.ports[part] = free_port()
            elif not port_is_free(port):
                flag = "--" + part.split()[0].lower() + "-port"
                raise DemoError(
                    f"port {port} for the {part} is already in use on 127.0.0.1 "
                    f"(stop what holds it, or pass {flag} PORT, 0 = any free port)"
                )

    def _url(self, part: str) -> str:
        return f"http://127.0.0.1:{self.ports[part]}"

    def _env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("MMQ_WEBHOOK_SECRETS",)}
        env.update(
            MMQ_DATA_DIR=str(self.paths.data_dir),
            PYTHONUNBUFFERED="1",  # log lines reach the log files as they happen
            **extra,
        )
        return env

    def _start_simulator(self) -> None:
        import httpx

        from mmq.demo.scenario import TIME_SCALE
        from mmq.demo.services import Service

        url = self._url("simulator")
        self.services.start(
            Service(
                "simulator",
                [
                    sys.executable,
                    "-m",
                    "mmq.demo.simulator_process",
                    str(self.ports["simulator"]),
                    str(TIME_SCALE),
                    str(self.seed),
                ],
                self._env(MMQ_API_KEY=self._api_key),
                self.paths.log("simulator"),
                ready=lambda: httpx.get(f"{url}/health", timeout=2).status_code == 200,
                ready_timeout=60,
            )
        )
        self.console.print(f"[green]✓[/] simulator      {url}/docs")

    def _subscribe(self) -> Path:
        from mmq.client import ApiError
        from mmq.demo.scenario import subscribe_receiver
        from mmq.demo.services import DemoError

        webhook_url = f"{self._url('receiver')}/webhooks/integrations"
        try:
            secret_file = subscribe_receiver(
                self._url("simulator"), self._api_key, webhook_url, self.paths.data_dir
            )
        except (ApiError, OSError) as error:
            raise DemoError(f"creating the webhook subscription failed: {error}") from None
        self.console.print(f"[green]✓[/] subscription   secret stored in {secret_file} (0600)")
        return secret_file

    def _start_receiver(self, secret_file: Path) -> None:
        import httpx

        from mmq.demo.services import Service

        url = self._url("receiver")
        self.services.start(
            Service(
                "receiver",
                [
                    sys.executable,
                    "-m",
                    "receiver",
                    "--port",
                    str(self.ports["receiver"]),
                    "--data-dir",
                    str(self.paths.data_dir),
                    "--secrets-file",
                    str(secret_file),
                ],
                self._env(MMQ_FEED_TOKEN=self._feed_token),
                self.paths.log("receiver"),
                ready=lambda: httpx.get(f"{url}/healthz", timeout=2).status_code == 200,
                ready_timeout=60,
            )
        )
        self.console.print(f"[green]✓[/] receiver       {url}/webhooks/integrations")

    def _start_dagster(self):
        import httpx

        from mmq.demo.dagster_ui import DagsterUi
        from mmq.demo.services import DemoError, Service

        url = self._url("Dagster webserver")
        ui = DagsterUi(url)
        env = self._env(
            DAGSTER_HOME=str(self.paths.dagster_home),
            MMQ_API_BASE_URL=self._url("simulator"),
            MMQ_API_KEY=self._api_key,
            MMQ_RECEIVER_URL=self._url("receiver"),
            MMQ_FEED_TOKEN=self._feed_token,
            MMQ_SENSOR_INTERVAL_SECONDS="3",
            MMQ_PENDING_BACKOFF_SECONDS="2",
        )
        workspace = str(self.paths.workspace)
        webserver = Service(
            "Dagster webserver",
            [
                _executable("dagster-webserver"),
                "-w",
                workspace,
                "-h",
                "127.0.0.1",
                "-p",
                str(self.ports["Dagster webserver"]),
            ],
            env,
            self.paths.log("dagster-webserver"),
            ready=lambda: httpx.get(f"{url}/server_info", timeout=2).status_code == 200,
            ready_timeout=180,
        )
        daemon = Service(
            "Dagster daemon",
            [_executable("dagster-daemon"), "run", "-w", workspace],
            env,
            self.paths.log("dagster-daemon"),
            ready=lambda: not ui.unhealthy_daemons(),
            ready_timeout=180,
        )
        for service in (webserver, daemon):
            if not service.argv[0]:
                raise DemoError(f"{service.name} is not installed; run `make install` first")
        # Both load the code location at once: start them together, then wait for both.
        self.services.start(webserver, wait=False)
        self.services.start(daemon, wait=False)
        with self.console.status("starting Dagster (webserver, daemon, code location)…"):
            webserver.wait_ready()
            daemon.wait_ready()
        self.console.print(f"[green]✓[/] Dagster        {url}  (home {self.paths.dagster_home})")
        return ui

    def _ensure_sensor(self, ui) -> None:
        from mmq.demo.dagster_ui import SENSOR
        from mmq.demo.services import DemoError

        deadline = time.monotonic() + 180
        status = None
        while status is None:
            self.services.check_alive()
            try:
                status = ui.sensor_status()
            except Exception as error:  # location still loading, webserver busy
                last = error
            if status is None:
                if time.monotonic() > deadline:
                    raise DemoError(
                        f"the code location did not load {SENSOR} within 180s ({last!r}); "
                        f"see {self.paths.log('dagster-webserver')}"
                    )
                time.sleep(1)
        if status != "RUNNING":
            status = ui.start_sensor()
        if status != "RUNNING":
            raise DemoError(f"{SENSOR} is {status} and could not be started")
        self.console.print(f"[green]✓[/] sensor         {SENSOR} running")

    # --- the scenario -----------------------------------------------------------------------

    def _drive(self, ui):
        import dagster as dg
        from rich.live import Live

        from mmq.demo.progress import Watcher, render
        from mmq.demo.scenario import ScenarioRunner
        from mmq.demo.services import DemoError
        from mmq.demo.summary import DemoSummary, read_summary
        from mmq.feed import ReceiverFeed

        self.instance = dg.DagsterInstance.from_config(str(self.paths.dagster_home))
        watcher = Watcher(
            ReceiverFeed(self._url("receiver"), self._feed_token, timeout=5),
            self.instance,
            self.paths.data_dir,
        )
        runner = ScenarioRunner(
            self._url("simulator"), self._api_key, self.submissions, seed=self.seed
        )
        self.console.print(f"driving {self.submissions} submissions (1–6 assets each)…")
        started = time.monotonic()
        runner.start()
        live = Live(console=self.console, auto_refresh=False) if self.console.is_terminal else None
        last_line = 0.0
        try:
            if live:
                live.start()
            while True:
                self.services.check_alive()
                if runner.error is not None:
                    raise DemoError(
                        f"the scenario failed: {type(runner.error).__name__}: {runner.error}"
                    )
                if runner.done and runner.result is not None and not watcher.submission_ids:
                    watcher.submission_ids = list(runner.result.submission_ids)
                snap = watcher.snapshot(runner.submitted)
                elapsed = time.monotonic() - started
                if live:
                    live.update(render(snap, self.submissions, elapsed), refresh=True)
                elif time.monotonic() - last_line >= QUIET_STATUS_SECONDS:
                    last_line = time.monotonic()
                    self.console.print(
                        f"[{elapsed:4.0f}s] created {snap.submitted}/{self.submissions}, "
                        f"events landed {snap.events_accepted}, runs {snap.runs_in_flight} "
                        f"in flight / {snap.runs_succeeded} ok / {snap.runs_failed} failed, "
                        f"reports {snap.reports_written}/{self.submissions}"
                    )
                if snap.failed_run_id:
                    raise DemoError(
                        f"Dagster run {snap.failed_run_id[:8]} failed; see "
                        f"{ui.run_url(snap.failed_run_id)} or {self.paths.logs}"
                    )
                if watcher.submission_ids and snap.complete(self.submissions):
                    break
                if elapsed > self.timeout:
                    raise DemoError(
                        f"the scenario did not complete within {self.timeout:.0f}s "
                        f"({snap.reports_written}/{self.submissions} reports written, "
                        f"{snap.settled} settled, {snap.runs_in_flight} runs in flight); "
                        f"see {self.paths.logs} and {ui.url}"
                    )
                time.sleep(POLL_SECONDS)
        finally:
            if live:
                live.stop()
        self._write_digest(ui, deadline=started + self.timeout)
        verdicts, worst = read_summary(self.paths.analytics, watcher.submission_ids)
        return DemoSummary(
            verdicts=verdicts,
            worst=worst,
            reports_index=self.paths.reports / "index.html",
            dagster_url=ui.url,
            logs_dir=self.paths.logs,
            seconds=time.monotonic() - self.started_at,
            scenario=runner.result.summary(),
        )

    def _write_digest(self, ui, deadline: float) -> None:
        """Run the daily reporting job now rather than after midnight: the digest page too."""
        from mmq.demo.services import DemoError

        job = "daily_quality_job"
        digest = self.paths.reports / "daily.html"
        try:
            run_id = ui.launch_job(job)
        except Exception as error:
            raise DemoError(f"launching {job} failed: {error}") from None
        with self.console.status(f"{job}: writing the daily digest…"):
            while True:
                self.services.check_alive()
                run = self.instance.get_run_by_id(run_id)
                if run is not None and run.is_finished:
                    break
                if time.monotonic() > deadline:
                    raise DemoError(
                        f"{job} did not finish within --timeout; see {ui.run_url(run_id)}"
                    )
                time.sleep(POLL_SECONDS)
        if not run.is_success or not digest.is_file():
            raise DemoError(f"{job} {run.status.value.lower()}; see {ui.run_url(run_id)}")
        self.console.print(f"[green]✓[/] daily digest   {digest}")

    def wait_forever(self) -> None:
        while True:
            self.services.check_alive()
            time.sleep(POLL_SECONDS)

    # --- shut-down --------------------------------------------------------------------------

    def shutdown(self) -> None:
        if self.services.started:
            self.console.print("stopping services…")
        if self.instance is not None:
            self.instance.dispose()
        self.services.stop_all()
        if self.services.started:
            self.console.print("all services stopped")


def _executable(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return str(beside)
    return shutil.which(name) or ""
