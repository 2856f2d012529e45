"""The receiver as operators run it: a subprocess on loopback owning its landing file.
Restarts, refusals at start-up, SIGTERM while requests are queued, and ``kill -9`` under load."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time

import duckdb
import httpx
import psutil
import pytest

from mmq.netutil import free_port
from receiver.testing import running_receiver, start_receiver, stop_receiver
from tests.receiver.helpers import (
    FEED_TOKEN,
    bearer,
    delivery,
    landed_rows,
    metric_value,
    new_secret,
    signed_headers,
)

REJECTED = "mmq_receiver_requests_rejected_total"


def run_receiver_cli(data_dir, secrets: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "MMQ_WEBHOOK_SECRETS": secrets, "MMQ_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "receiver", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_duplicates_across_restarts_land_once(tmp_path, secret):
    event_id, body, headers = delivery(secret)
    with running_receiver(tmp_path, secrets=[secret], feed_token=FEED_TOKEN) as handle:
        assert httpx.post(handle.webhook_url, content=body, headers=headers).json() == {
            "status": "accepted",
            "event_id": event_id,
        }
    new_id, new_body, new_headers = delivery(secret)
    with running_receiver(tmp_path, secrets=[secret], feed_token=FEED_TOKEN) as handle:
        retry = httpx.post(
            handle.webhook_url, content=body, headers=signed_headers(secret, body, event_id)
        )
        assert (retry.status_code, retry.json()["status"]) == (200, "duplicate")
        fresh = httpx.post(handle.webhook_url, content=new_body, headers=new_headers)
        assert fresh.json()["status"] == "accepted"
        page = httpx.get(f"{handle.url}/events", headers=bearer()).json()
        assert [(e["seq"], e["event_id"]) for e in page["events"]] == [(1, event_id), (2, new_id)]
    assert landed_rows(tmp_path / "landing.duckdb") == [(event_id,), (new_id,)]


BAD_SECRETS = {
    "no prefix": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0",
    "not base64": "whsec_not*base64*at*all*here*!!",
    "too short": "whsec_c2hvcnQ=",
}


@pytest.mark.parametrize("bad", BAD_SECRETS.values(), ids=BAD_SECRETS.keys())
def test_bad_secret_stops_the_start_naming_which_not_its_value(tmp_path, secret, bad):
    result = run_receiver_cli(tmp_path, f"{secret},{bad}")
    assert result.returncode == 2
    assert "webhook secret #2 of 2" in result.stderr
    assert bad not in result.stderr + result.stdout
    assert secret not in result.stderr + result.stdout
    assert not (tmp_path / "landing.duckdb").exists()


def test_no_secret_stops_the_start(tmp_path):
    result = run_receiver_cli(tmp_path, "")
    assert result.returncode == 2
    assert "MMQ_WEBHOOK_SECRETS" in result.stderr


def test_second_instance_on_the_same_data_dir_refuses_to_start(tmp_path, secret):
    with running_receiver(tmp_path, secrets=[secret], feed_token=FEED_TOKEN) as first:
        result = run_receiver_cli(tmp_path, secret)
        assert result.returncode == 2
        assert "already running" in result.stderr
        assert f"pid {first.process.pid}" in result.stderr
        # the first one is untouched and still lands events
        _, body, headers = delivery(secret)
        assert httpx.post(first.webhook_url, content=body, headers=headers).status_code == 200


def test_bad_memory_limit_stops_the_start_naming_the_setting(tmp_path, secret):
    env = {**os.environ, "MMQ_WEBHOOK_SECRETS": secret, "MMQ_DATA_DIR": str(tmp_path)}
    env["MMQ_RECEIVER_MEMORY_LIMIT_MB"] = "8"  # below the 16 MB floor
    result = subprocess.run(
        [sys.executable, "-m", "receiver", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "MMQ_RECEIVER_MEMORY_LIMIT_MB" in result.stderr
    assert not (tmp_path / "landing.duckdb").exists()  # refused before the writer started


def test_landing_file_open_in_another_program_refuses_to_start(tmp_path, secret):
    # An analyst's DuckDB session holds the file read-write: DuckDB's own lock says no.
    with duckdb.connect(str(tmp_path / "landing.duckdb")):
        result = run_receiver_cli(tmp_path, secret)
    assert result.returncode == 2
    assert "is open in another process" in result.stderr
    assert "Traceback" not in result.stderr


def test_feed_survives_timestamps_out_of_range_in_the_local_time_zone(tmp_path, secret):
    # Regression: DuckDB returned year-1 instants as text in a zone west of UTC: the feed 500'd.
    event_id, _, _ = delivery(secret)
    body = json.dumps({"id": event_id, "type": "x", "timestamp": "0001-01-01T00:00:00Z"}).encode()
    env = {"TZ": "America/New_York"}
    with running_receiver(tmp_path, secrets=[secret], feed_token=FEED_TOKEN, extra_env=env) as h:
        headers = signed_headers(secret, body, event_id)
        assert httpx.post(h.webhook_url, content=body, headers=headers).status_code == 200
        response = httpx.get(f"{h.url}/events", headers=bearer())
        assert response.status_code == 200
        assert response.json()["events"][0]["event_timestamp"] == "0001-01-01T00:00:00+00:00"


async def post_until_refused(url: str, secret: str, workers: int, on_ack) -> tuple[set, int]:
    """Unique events (plus ~5% re-sends of acked ones) from ``workers`` concurrent senders,
    until the receiver stops answering. Returns the ids that got a 2xx, and the failures."""
    acked: set[str] = set()
    failures = 0

    async def sender(client: httpx.AsyncClient, number: int) -> None:
        nonlocal failures
        sent = 0
        while True:
            sent += 1
            if acked and sent % 20 == 0:  # a sender retry of something already acked
                event_id = sorted(acked)[sent % len(acked)]
                _, body, _ = delivery(secret, event_id)
                headers = signed_headers(secret, body, event_id)
            else:
                event_id, body, headers = delivery(secret)
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError:
                failures += 1
                return
            if 200 <= response.status_code < 300:
                acked.add(event_id)
                on_ack(len(acked))

    limits = httpx.Limits(max_connections=workers)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(sender(client, n) for n in range(workers)))
    return acked, failures


def test_kill_9_under_load_loses_no_acknowledged_event(tmp_path, secret):
    handle = start_receiver(tmp_path, secrets=[secret], feed_token=FEED_TOKEN)
    killed_at = 400

    writer = psutil.Process(handle.process.pid).children()  # the DuckDB writer process

    def kill_once(count: int) -> None:
        if count >= killed_at and handle.process.poll() is None:
            os.kill(handle.process.pid, signal.SIGKILL)

    try:
        acked, failures = asyncio.run(post_until_refused(handle.webhook_url, secret, 24, kill_once))
    finally:
        handle.process.kill()
        handle.process.wait()
    assert handle.process.returncode == -signal.SIGKILL
    assert len(acked) >= killed_at and failures > 0  # killed mid-load, with requests in flight
    # its orphaned writer sees the socket close, finishes its commit and exits by itself
    assert len(writer) == 1
    gone, alive = psutil.wait_procs(writer, timeout=30)
    assert alive == [] and len(gone) == 1
    # restart on the same file: the lock of the dead process is gone, the WAL is replayed
    with running_receiver(tmp_path, secrets=[secret], feed_token=FEED_TOKEN) as again:
        assert httpx.get(f"{again.url}/healthz").json()["latest_seq"] >= len(acked)
    rows = landed_rows(tmp_path / "landing.duckdb", "seq, event_id")
    landed = {event_id for _, event_id in rows}
    assert acked - landed == set()  # zero lost
    assert [seq for seq, _ in rows] == list(range(1, len(rows) + 1))  # dense, no duplicates


def test_sigterm_commits_queued_requests_before_exiting(tmp_path, secret):
    # A long batch window keeps the requests queued (un-committed) when SIGTERM arrives.
    env = {"MMQ_RECEIVER_BATCH_MAX_MS": "3000", "MMQ_RECEIVER_BATCH_MAX_EVENTS": "10000"}
    handle = start_receiver(tmp_path, secrets=[secret], feed_token=FEED_TOKEN, extra_env=env)
    sent = [delivery(secret) for _ in range(30)]

    async def deliver_and_terminate():
        async with httpx.AsyncClient(timeout=30) as client:
            posts = [
                asyncio.create_task(client.post(handle.webhook_url, content=b, headers=h))
                for _, b, h in sent
            ]
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # wait until all 30 sit in the open batch
                text = (await client.get(f"{handle.url}/metrics")).text
                if metric_value(text, "mmq_receiver_queued_events") == len(sent):
                    break
                await asyncio.sleep(0.02)
            queued = metric_value(text, "mmq_receiver_queued_events")
            handle.process.send_signal(signal.SIGTERM)
            return queued, await asyncio.gather(*posts, return_exceptions=True)

    try:
        queued, answers = asyncio.run(deliver_and_terminate())
        assert queued == len(sent)
        # uvicorn re-raises SIGTERM once it has shut down gracefully
        assert handle.process.wait(30) in (0, -signal.SIGTERM)
    finally:
        stop_receiver(handle)
    assert [getattr(a, "status_code", a) for a in answers] == [200] * len(sent)
    landed = {row[0] for row in landed_rows(tmp_path / "landing.duckdb")}
    assert landed == {event_id for event_id, _, _ in sent}


def test_secret_rotation_across_a_restart(tmp_path):
    old, new = new_secret(), new_secret()
    with running_receiver(tmp_path, secrets=[old, new], feed_token=FEED_TOKEN) as handle:
        for key in (old, new):
            _, body, headers = delivery(key)
            assert httpx.post(handle.webhook_url, content=body, headers=headers).status_code == 200
    with running_receiver(tmp_path, secrets=[new], feed_token=FEED_TOKEN) as handle:
        _, body, headers = delivery(old)
        assert httpx.post(handle.webhook_url, content=body, headers=headers).status_code == 401
        _, body, headers = delivery(new)
        assert httpx.post(handle.webhook_url, content=body, headers=headers).status_code == 200


def raw_exchange(port: int, data: bytes, *, read: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if not read:
            return b""
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_protocol_abuse_is_answered_4xx_or_dropped_and_the_process_lives_on(tmp_path, secret):
    with running_receiver(tmp_path, secrets=[secret], feed_token=FEED_TOKEN) as handle:
        port = int(handle.url.rsplit(":", 1)[1])
        _, body, headers = delivery(secret)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        truncated = (
            f"POST /webhooks/integrations HTTP/1.1\r\nHost: x\r\n{head}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body[:10]
        raw_exchange(port, truncated, read=False)  # the sender goes away mid-body
        garbage = raw_exchange(port, b"\x16\x03\x01\x02\x00 not http at all\r\n\r\n")
        assert garbage == b"" or garbage.startswith(b"HTTP/1.1 4")
        smuggled = raw_exchange(
            port,
            b"POST /webhooks/integrations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"0\r\n\r\n",
        )
        assert smuggled == b"" or smuggled.startswith(b"HTTP/1.1 4")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the disconnect is noticed asynchronously
            text = httpx.get(f"{handle.url}/metrics").text
            if metric_value(text, REJECTED, 'cause="incomplete_body"') == 1:
                break
            time.sleep(0.05)
        assert metric_value(text, REJECTED, 'cause="incomplete_body"') == 1
        assert metric_value(text, "mmq_receiver_events_accepted_total") == 0
        assert httpx.post(handle.webhook_url, content=body, headers=headers).status_code == 200
