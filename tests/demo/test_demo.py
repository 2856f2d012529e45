"""``mmq demo`` as a user runs it: real processes, real ports, real Dagster, then nothing left."""

from __future__ import annotations

import signal
import socket
import subprocess

import duckdb
import pytest

from tests.demo.processes import (
    API_KEY,
    processes_of,
    start_demo,
    wait_for_no_processes,
    wait_for_text,
)

# The slowest tests of the suite: the whole stack on a loaded 2-core box.
pytestmark = pytest.mark.timeout(600)


def test_demo_runs_the_scenario_to_reports_and_leaves_nothing_running(tmp_path):
    process, output = start_demo(tmp_path, "--exit-when-done", "--submissions", "6")
    try:
        code = process.wait(timeout=540)
    finally:
        process.kill()
    text = output.read_text()
    assert code == 0, text
    assert "Submissions by verdict" in text and "5 worst submissions" in text
    data = tmp_path / "data"
    assert str(data / "reports" / "index.html") in text
    assert "make notebooks" in text
    assert (data / "reports" / "daily.html").is_file()  # the daily job ran, not just the sensor's

    with duckdb.connect(str(data / "analytics.duckdb"), read_only=True) as conn:
        ids = [r[0] for r in conn.execute("SELECT submission_id FROM submissions").fetchall()]
        verdicts = conn.execute(
            "SELECT count(*) FROM submission_quality WHERE verdict IS NOT NULL"
        ).fetchone()[0]
    assert len(ids) == 6 and verdicts == 6
    for sid in ids:
        report = data / "reports" / f"{sid}.html"
        assert report.is_file() and sid in report.read_text()
    # The summary's worst submissions are real ones from the warehouse.
    assert sum(sid in text for sid in ids) == 5

    assert wait_for_no_processes(data) == []
    # The receiver released landing.duckdb: a writer can open it now.
    duckdb.connect(str(data / "landing.duckdb")).close()
    # Per-run secrets stay out of the output and the logs.
    secret = next((data / "secrets").glob("*.whsec")).read_text().strip()
    for log in [output, *(data / "logs").glob("*.log")]:
        body = log.read_text(errors="replace")
        assert secret not in body and not API_KEY.search(body), log.name
    assert {p.name for p in (data / "logs").glob("*.log")} == {
        "simulator.log",
        "receiver.log",
        "dagster-webserver.log",
        "dagster-daemon.log",
    }


def test_port_in_use_fails_fast_naming_the_part(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*_args_with_receiver_port(port), "--exit-when-done"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert f"port {port} for the receiver is already in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert processes_of(tmp_path / "data") == []


def test_sigint_during_the_run_stops_every_service(tmp_path):
    process, output = start_demo(tmp_path, "--submissions", "40")
    try:
        # Services up and the scenario under way: the worst moment to be interrupted.
        wait_for_text(output, "driving 40 submissions", process, timeout=300)
        assert len(processes_of(tmp_path / "data")) >= 4  # simulator, receiver, webserver, daemon
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=120)
    finally:
        process.kill()
    text = output.read_text()
    assert code == 130, text
    assert "interrupted before the scenario completed" in text
    assert "all services stopped" in text
    assert wait_for_no_processes(tmp_path / "data") == []
    duckdb.connect(str(tmp_path / "data" / "landing.duckdb")).close()


def test_a_rerun_refuses_a_data_dir_that_no_demo_wrote(tmp_path):
    precious = tmp_path / "data" / "landing.duckdb"
    precious.parent.mkdir()
    precious.write_bytes(b"not the demo's")
    result = subprocess.run(
        [*_args_with_receiver_port(0), "--exit-when-done"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "holds data that no demo wrote" in result.stderr
    assert precious.read_bytes() == b"not the demo's"


def _args_with_receiver_port(port: int) -> list[str]:
    from tests.demo.processes import demo_args

    args = demo_args()
    args[args.index("--receiver-port") + 1] = str(port)
    return args
