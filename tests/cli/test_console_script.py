"""The installed ``mmq`` console script as a real subprocess, and ``--help`` everywhere."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.cli.conftest import MMQ_BIN

pytestmark = pytest.mark.timeout(60)

COMMANDS = [
    ("subscriptions", "create"),
    ("subscriptions", "list"),
    ("subscriptions", "get"),
    ("subscriptions", "enable"),
    ("subscriptions", "disable"),
    ("subscriptions", "delete"),
    ("subscriptions", "deliveries"),
    ("submit",),
    ("status",),
    ("retry",),
]


def run_mmq(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MMQ_")}
    return subprocess.run(
        [str(MMQ_BIN), *args],
        env=clean | env | {"COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_console_script_against_the_simulator(cli, tmp_path):
    env = {
        "MMQ_API_BASE_URL": cli.sim.base_url,
        "MMQ_API_KEY": cli.key,
        "MMQ_DATA_DIR": str(tmp_path / "data"),
    }
    created = run_mmq("subscriptions", "create", "--url", "http://127.0.0.1:9/h", "--json", env=env)
    assert created.returncode == 0, created.stderr
    sub = json.loads(created.stdout)
    secret = cli.subscriptions()[sub["id"]].secret
    assert secret not in created.stdout + created.stderr

    listed = run_mmq("subscriptions", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert [item["id"] for item in json.loads(listed.stdout)["items"]] == [sub["id"]]

    missing = run_mmq("status", "00000000-0000-4000-8000-000000000000", env=env)
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and missing.stderr.startswith("error: 404 Not Found")
    assert "Traceback" not in missing.stderr

    no_key = run_mmq("subscriptions", "list", env=env | {"MMQ_API_KEY": ""})
    assert no_key.returncode == 2 and no_key.stderr.startswith("error: no API key")
    for output in (created, listed, missing, no_key):
        assert cli.key not in output.stdout + output.stderr


def test_help_explains_every_command_and_where_secrets_come_from(cli):
    top = cli("--help")
    for name in ("subscriptions", "submit", "status", "webhook-test", "retry"):
        assert name in top.stdout
    for args in COMMANDS:
        result = cli(*args, "--help")
        assert result.exit_code == 0, (args, result.output)
        flat = " ".join(result.stdout.split())
        assert "MMQ_API_KEY" in flat and "--api-key-file" in flat, args
        assert "--json" in flat and "--base-url" in flat, args
    webhook = " ".join(cli("webhook-test", "--help").stdout.split())
    assert "MMQ_WEBHOOK_SECRETS" in webhook and "--secret-file" in webhook
    assert "no API key needed" in webhook
    create = " ".join(cli("subscriptions", "create", "--help").stdout.split())
    assert "0600" in create and "--show-secret" in create and "--force" in create
    submit = " ".join(cli("submit", "--help").stdout.split())
    assert "10 MB" in submit and "presigned" in submit and "--wait" in submit
