"""The secret the CLI stores reaches a real receiver: webhook-test and delivery attempts.

``mmq receiver --secrets-file`` runs as a subprocess of the console script, exactly as
``mmq subscriptions create`` tells the user to start it.
"""

from __future__ import annotations

import base64
import json
import secrets
import time

import pytest

from mmq.netutil import free_port
from tests.cli.conftest import assert_error_line, mmq_receiver

pytestmark = pytest.mark.timeout(90)


def other_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def wait_for_attempts(cli, sub_id: str, *args: str, count: int = 1) -> dict:
    deadline = time.monotonic() + 15
    while True:
        result = cli("subscriptions", "deliveries", sub_id, "--json", *args)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        if len(data["attempts"]) >= count or time.monotonic() > deadline:
            return data
        time.sleep(0.1)


def test_secret_file_works_with_the_receiver_and_deliveries_are_listed(cli, tmp_path, dead_url):
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/integrations"
    created = cli("subscriptions", "create", "--url", url, "--json")
    assert created.exit_code == 0, created.output
    sub = json.loads(created.stdout)
    secret_file = sub["secretFile"]
    broken = json.loads(
        cli("subscriptions", "create", "--url", f"{dead_url}/hook", "--json").stdout
    )

    with mmq_receiver(tmp_path / "receiver", port, secret_file) as receiver_url:
        assert receiver_url == url
        ok = cli("webhook-test", "--url", url, "--secret-file", secret_file)
        assert ok.exit_code == 0, ok.output
        assert "delivered: yes" in ok.stdout and "evt_" in ok.stdout

        # The secret from MMQ_WEBHOOK_SECRETS' first entry; a secret the receiver lacks fails.
        wrong = cli("webhook-test", "--url", url, "--json", MMQ_WEBHOOK_SECRETS=other_secret())
        assert json.loads(wrong.stdout)["delivered"] is False
        assert_error_line(wrong, 3, "not delivered", "401", "does not hold this secret")

        # Real events: one asset, processed in milliseconds, delivered to both subscriptions.
        (tmp_path / "clip.txt").write_text("spring sale, 50% off everything")
        submitted = cli("submit", str(tmp_path / "clip.txt"), "--wait", "--interval", "0.05")
        assert submitted.exit_code == 0, submitted.output
        good = wait_for_attempts(cli, sub["id"])

    (attempt,) = good["attempts"]
    assert (attempt["status"], attempt["responseStatus"]) == ("SUCCESSFUL", 200)
    table = cli("subscriptions", "deliveries", sub["id"])
    assert attempt["eventId"] in table.stdout and "SUCCESSFUL" in table.stdout
    none_failed = cli("subscriptions", "deliveries", sub["id"], "--status", "failed")
    assert "No delivery attempts with status FAILED." in none_failed.stdout

    # time_scale 0.01 makes the 5 s first retry 50 ms: several failed attempts pile up.
    failed = wait_for_attempts(cli, broken["id"], "--status", "FAILED", count=2)
    assert {a["status"] for a in failed["attempts"]} == {"FAILED"}
    assert all(a["responseStatus"] is None for a in failed["attempts"])
    limited = wait_for_attempts(cli, broken["id"], "--limit", "1")
    assert len(limited["attempts"]) == 1 and limited["total"] == 1
    shown = cli("subscriptions", "deliveries", broken["id"], "--status", "failed")
    assert "FAILED" in shown.stdout and "retried by the API" in shown.stderr


def test_webhook_test_errors(cli, tmp_path, dead_url):
    unreachable = cli(
        "webhook-test", "--url", f"{dead_url}/hook", MMQ_WEBHOOK_SECRETS=other_secret()
    )
    assert_error_line(unreachable, 3, "not delivered", "no answer")

    no_secret = cli("webhook-test", "--url", f"{dead_url}/hook")
    assert_error_line(no_secret, 2, "no webhook secret", "--secret-file", "MMQ_WEBHOOK_SECRETS")

    not_a_secret = tmp_path / "plain.txt"
    not_a_secret.write_text("hunter2\n")
    bad = cli("webhook-test", "--url", f"{dead_url}/hook", "--secret-file", str(not_a_secret))
    assert_error_line(bad, 2, "does not hold a whsec_ secret")
    assert "hunter2" not in bad.output

    api_down = cli(
        "webhook-test",
        "--url",
        f"{dead_url}/hook",
        "--base-url",
        dead_url,
        MMQ_WEBHOOK_SECRETS=other_secret(),
        MMQ_API_MAX_ATTEMPTS="1",
    )
    assert_error_line(api_down, 1, "cannot reach the API")
