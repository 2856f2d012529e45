"""API fault injection (429 + Retry-After, 500, 502 per endpoint, latency), fault profiles, and
the ``mmq simulator`` command line (help, bad input, a real server process with a scenario)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import typer
import yaml
from typer.testing import CliRunner

from mmq.cli import app as mmq_app
from mmq.netutil import free_port, wait_for_http
from simulator import cli as simulator_cli
from simulator.config import FaultProfile
from simulator.testing import new_key, running_simulator
from tests.simulator.helpers import Api

pytestmark = pytest.mark.timeout(60)
NO_SUCH = "00000000-0000-0000-0000-000000000000"


def _completed_asset(api: Api) -> tuple[str, str]:
    created = api.submit_new(1)
    # callers run the simulator with failure_rate=0: a failed asset has no results (404)
    api.wait_terminal(created["submissionId"])
    return created["submissionId"], created["assets"][0]["assetId"]


def test_per_endpoint_502_and_counting():
    key = new_key()
    faults = FaultProfile(endpoints={"GET /issues": {"rate_502": 1.0}})
    with running_simulator(
        api_keys=[key], time_scale=0.002, failure_rate=0.0, faults=faults
    ) as sim:
        api = Api(sim.base_url, key)
        sid, aid = _completed_asset(api)
        for _ in range(3):
            r = api.get(f"/submissions/{sid}/assets/{aid}/issues")
            assert r.status_code == 502
            assert r.json() == {"detail": "Failed to load result blob (injected)"}
        assert api.get(f"/submissions/{sid}/assets/{aid}/topics").status_code == 200
        assert api.get(f"/submissions/{sid}").status_code == 200
        assert sim.sim.injected == {502: 3}


def test_injected_429_carries_retry_after_and_500_its_body():
    key = new_key()
    faults = FaultProfile(
        retry_after_seconds=7,
        endpoints={"/deliveries": {"rate_429": 1.0}, "POST /uploads": {"rate_500": 1.0}},
    )
    with running_simulator(api_keys=[key], faults=faults) as sim:
        api = Api(sim.base_url, key)
        r = api.get(f"/webhooks/subscriptions/{NO_SUCH}/deliveries")
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "7"
        assert r.json()["error"].startswith("Rate limit exceeded")
        r = api.post("/uploads/url", json={"filename": "a.png", "contentType": "image/png"})
        assert (r.status_code, r.json()) == (500, {"detail": "Internal server error (injected)"})
        # Only the API is faulty: health and the blob target are not.
        assert httpx.get(f"{sim.base_url}/health").status_code == 200
        assert api.get(f"/webhooks/subscriptions/{NO_SUCH}").status_code == 404


def test_paths_limit_the_global_rates_and_rates_are_shares():
    key = new_key()
    faults = FaultProfile(rate_500=1.0, paths=["/topics"])
    with running_simulator(
        api_keys=[key], time_scale=0.002, failure_rate=0.0, faults=faults, seed=3
    ) as sim:
        api = Api(sim.base_url, key)
        sid, aid = _completed_asset(api)
        assert api.get(f"/submissions/{sid}/assets/{aid}/topics").status_code == 500
        assert api.get(f"/submissions/{sid}/assets/{aid}/issues").status_code == 200
    faults = FaultProfile(rate_429=0.25, rate_500=0.25, rate_502=0.25, retry_after_seconds=0)
    with running_simulator(api_keys=[key], faults=faults, seed=5) as sim:
        api = Api(sim.base_url, key)
        codes = [api.get(f"/submissions/{NO_SUCH}").status_code for _ in range(400)]
        for code in (404, 429, 500, 502):
            assert 60 < codes.count(code) < 140, (code, codes.count(code))
        assert sum(sim.sim.injected.values()) == 400 - codes.count(404)


def test_latency_is_added_to_api_requests():
    key = new_key()
    faults = FaultProfile(latency_ms=150)
    with running_simulator(api_keys=[key], faults=faults) as sim:
        api = Api(sim.base_url, key)
        started = time.monotonic()
        assert api.get(f"/submissions/{NO_SUCH}").status_code == 404
        assert time.monotonic() - started >= 0.15


def test_profiles_load_from_json_and_yaml(tmp_path):
    data = {
        "rate_429": 0.1,
        "retry_after_seconds": 3,
        "endpoints": {"GET /topics": {"rate_502": 0.5}},
        "webhooks": {"duplicate_rate": 0.2, "slow_seconds": 0.5},
    }
    (tmp_path / "p.json").write_text(json.dumps(data))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    for name in ("p.json", "p.yaml"):
        profile = FaultProfile.from_file(tmp_path / name)
        assert profile.rate_429 == 0.1 and profile.retry_after_seconds == 3
        assert profile.endpoints["GET /topics"].rate_502 == 0.5
        assert profile.webhooks.duplicate_rate == 0.2
        assert profile.api_faults_enabled
    (tmp_path / "empty.yaml").write_text("")
    assert not FaultProfile.from_file(tmp_path / "empty.yaml").api_faults_enabled


@pytest.mark.parametrize(
    "data",
    [
        {"rate_500": 0.7, "rate_502": 0.7},  # shares of one roll: more than 100 %
        {"endpoints": {"/x": {"rate_429": 0.6}}, "rate_500": 0.5},
        {"rate_4xx": 0.1},
        {"webhooks": {"drop": 1}},
        {"rate_500": 2},
        {"endpoints": {"FETCH /x": {}}},
        ["rate_500", 1],
    ],
)
def test_bad_profiles_are_rejected(tmp_path, data):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError):
        FaultProfile.from_file(path)


def test_help_documents_every_option():
    result = CliRunner().invoke(mmq_app, ["simulator", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    command = typer.main.get_command(mmq_app).commands["simulator"]
    for param in command.params:
        if param.name == "help":
            continue
        assert param.help, f"--{param.name} has no help text"
        assert param.opts[0] in result.output, param.opts[0]


def test_cli_rejects_bad_configuration_without_echoing_keys(tmp_path):
    runner = CliRunner()
    bad_key = "sk_test_" + "Z" * 64
    result = runner.invoke(mmq_app, ["simulator", "--api-key", bad_key])
    assert result.exit_code == 2
    assert "invalid simulator configuration" in result.output
    assert bad_key not in result.output
    profile = tmp_path / "bad.yaml"
    profile.write_text("rate_500: 3\n")
    result = runner.invoke(mmq_app, ["simulator", "--faults", str(profile)])
    assert result.exit_code == 2 and "rate_500" in result.output
    for args in (
        ["--faults", str(tmp_path / "missing.yaml")],
        ["--bucket-rate-limit", "upload"],
        ["--bucket-rate-limit", "nosuchbucket=3"],
        ["--processing-seconds", "5", "1"],
        ["--scenario", str(profile)],  # a mapping, but not of scenario options
    ):
        assert runner.invoke(mmq_app, ["simulator", *args]).exit_code == 2, args


def test_bucket_limits_parse():
    assert simulator_cli._bucket_limits(["upload=2", " sandbox = 0.5"]) == {
        "upload": 2.0,
        "sandbox": 0.5,
    }


def test_the_command_serves_merges_fault_flags_and_drives_a_scenario(tmp_path: Path):
    key, port = new_key(), free_port()
    profile = tmp_path / "faults.yaml"
    profile.write_text(yaml.safe_dump({"endpoints": {"GET /topics": {"rate_502": 1.0}}}))
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        yaml.safe_dump({"submissions": 3, "assets_per_submission": [1, 2], "duration_seconds": 0.1})
    )
    args = [
        *("--port", str(port), "--api-key", key, "--time-scale", "0.002"),
        *("--faults", str(profile), "--fault-rate-429", "1", "--fault-path", "/deliveries"),
        *("--fault-retry-after", "9", "--scenario", str(scenario)),
    ]
    env = {**os.environ, "COLUMNS": "200"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mmq", "simulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/health", timeout=30, process=process)
        api = Api(base, key)
        # The profile's endpoint fault and the flags' path-limited 429 are both in force.
        r = api.get(f"/submissions/{NO_SUCH}/assets/{NO_SUCH}/topics")
        assert r.status_code == 502
        r = api.get(f"/webhooks/subscriptions/{NO_SUCH}/deliveries")
        assert (r.status_code, r.headers.get("Retry-After")) == (429, "9")
        assert api.get(f"/submissions/{NO_SUCH}").status_code == 404
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"].startswith("MediaMagic")
        # The scenario runs beside the server: let it finish before stopping the process.
        deadline = time.monotonic() + 60
        while not any("scenario done" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=15)
        reader.join(timeout=15)
    output = "".join(lines)
    assert "scenario done: 3 submissions" in output, output
    assert key not in output  # given keys are never echoed
