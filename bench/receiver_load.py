"""Load for the receiver benchmark: pre-signed ~1 KB deliveries, a wrk input file, and an
open-loop (wrk2-style) constant-rate generator that runs in its own process.

``python bench/receiver_load.py rate --port P --secret-file F --rate 1000 --duration 8 --out R``
sends ``rate`` signed deliveries per second on a schedule fixed in advance and measures every
ack latency from the *scheduled* send time, so a slow server cannot hide its queueing
(no coordinated omission). It writes the latencies and the ids that got a 2xx to ``R`` (JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from standardwebhooks import Webhook

PATH = "/webhooks/integrations"


@dataclass(slots=True)
class Delivery:
    event_id: str
    raw: bytes  # a complete HTTP/1.1 request


def envelope(event_id: str, body_size: int) -> bytes:
    """An ``asset.processing.completed`` envelope padded to about ``body_size`` bytes."""
    doc = {
        "id": event_id,
        "type": "asset.processing.completed",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {
            "asset_id": str(uuid.uuid4()),
            "submission_id": str(uuid.uuid4()),
            "workspace_id": str(uuid.uuid4()),
            "status": "completed",
            "filename": "campaign-video.mp4",
            "issue_count": 3,
            "note": "",
        },
    }
    raw = json.dumps(doc, separators=(",", ":"))
    doc["data"]["note"] = "x" * max(0, body_size - len(raw))
    return json.dumps(doc, separators=(",", ":")).encode()


def make_deliveries(
    secret: str, unique: int, duplicate_share: float, *, body_size: int = 1024, seed: int = 7
) -> list[Delivery]:
    """``unique`` new events, plus re-deliveries (same id and body, fresh signature, as a sender
    retry) making up ``duplicate_share`` of the list, each placed after its original."""
    webhook = Webhook(secret)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    keyed = []  # (position key, event id, body, attempt time)
    for index in range(unique):
        event_id = f"evt_{uuid.uuid4()}"
        keyed.append((float(index), event_id, envelope(event_id, body_size), now))
    extra = round(unique * duplicate_share / (1 - duplicate_share)) if duplicate_share else 0
    for _ in range(extra):
        source = keyed[rng.randrange(unique)]
        # a retry comes later than its original, with a fresh timestamp, hence a new signature
        later = rng.uniform(source[0], unique)
        keyed.append((later, source[1], source[2], now - timedelta(seconds=1)))
    keyed.sort(key=lambda item: item[0])
    out = []
    for index, (_key, event_id, body, attempt) in enumerate(keyed):
        head = (
            f"POST {PATH} HTTP/1.1\r\n"
            "Host: 127.0.0.1\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"webhook-id: {event_id}\r\n"
            f"webhook-timestamp: {int(attempt.timestamp())}\r\n"
            f"webhook-signature: {webhook.sign(event_id, attempt, body)}\r\n"
            f"user-agent: bench/{index}\r\n"
            "\r\n"
        )
        out.append(Delivery(event_id, head.encode() + body))
    return out


def write_wrk_file(path: Path, deliveries: list[Delivery]) -> None:
    """Length-prefixed raw requests, read by ``bench/receiver_wrk.lua``."""
    with open(path, "wb") as out:
        for delivery in deliveries:
            out.write(b"%d\n" % len(delivery.raw))
            out.write(delivery.raw)


def distinct_prefix(deliveries: list[Delivery], count: int) -> int:
    return len({d.event_id for d in deliveries[: max(0, count)]})


# --- open-loop constant-rate generator ------------------------------------------------------
async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def rate_run(
    port: int, deliveries: list[Delivery], rate: float, duration: float, connections: int
) -> dict:
    total = min(len(deliveries), int(rate * duration))
    idle: asyncio.Queue = asyncio.Queue()
    opened = 0
    latencies: list[float] = []
    acked: list[str] = []
    failures = 0
    statuses: dict[int, int] = {}

    async def connection():
        nonlocal opened
        if not idle.empty():
            return idle.get_nowait()
        if opened < connections:
            opened += 1
            return await asyncio.open_connection("127.0.0.1", port)
        return await idle.get()  # wait for a free connection: that wait counts as latency

    async def one(delivery: Delivery, scheduled: float) -> None:
        nonlocal failures
        conn = await connection()
        reader, writer = conn
        try:
            writer.write(delivery.raw)
            status = await asyncio.wait_for(_read_response(reader), 30)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            failures += 1
            writer.close()
            conn = await asyncio.open_connection("127.0.0.1", port)
        else:
            latencies.append(time.perf_counter() - scheduled)
            statuses[status] = statuses.get(status, 0) + 1
            if 200 <= status < 300:
                acked.append(delivery.event_id)
        idle.put_nowait(conn)

    tasks = []
    start = time.perf_counter() + 0.05
    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(deliveries[index], scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait()[1].close()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "sent": total,
        "elapsed_s": elapsed,
        "answered": len(latencies),
        "failures": failures,
        "statuses": statuses,
        "p50_ms": pct(0.50) if latencies else None,
        "p99_ms": pct(0.99) if latencies else None,
        "max_ms": latencies[-1] * 1000 if latencies else None,
        "acked_ids": acked,
    }


# --- closed-loop saturating generator (when wrk is not installed) -----------------------------
async def closed_run(port: int, deliveries: list[Delivery], duration: float, connections: int):
    """``connections`` senders, each sending its next delivery as soon as the last is answered,
    for ``duration`` seconds: the sustained rate the server can take."""
    position = 0
    statuses: dict[int, int] = {}
    failures = 0
    deadline = time.perf_counter() + duration

    async def sender() -> None:
        nonlocal position, failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline and position < len(deliveries):
                delivery = deliveries[position]
                position += 1
                writer.write(delivery.raw)
                try:
                    status = await asyncio.wait_for(_read_response(reader), 30)
                except (OSError, asyncio.IncompleteReadError, TimeoutError):
                    failures += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    accepted = sum(n for status, n in statuses.items() if 200 <= status < 300)
    return {
        "sent": position,
        "elapsed_s": elapsed,
        "answered": sum(statuses.values()),
        "failures": failures,
        "statuses": statuses,
        "accepted": accepted,
        "accepted_per_s": accepted / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rate = sub.add_parser("rate", help="constant-rate open-loop load; writes results as JSON")
    rate.add_argument("--port", type=int, required=True)
    rate.add_argument("--secret-file", type=Path, required=True)
    rate.add_argument("--rate", type=float, default=1000)
    rate.add_argument("--duration", type=float, default=8)
    rate.add_argument("--connections", type=int, default=256)
    rate.add_argument("--duplicate-share", type=float, default=0.1)
    rate.add_argument("--out", type=Path, required=True)
    closed = sub.add_parser("closed", help="saturating closed-loop load; writes results as JSON")
    closed.add_argument("--port", type=int, required=True)
    closed.add_argument("--secret-file", type=Path, required=True)
    closed.add_argument("--duration", type=float, default=8)
    closed.add_argument("--connections", type=int, default=64)
    closed.add_argument("--duplicate-share", type=float, default=0.05)
    closed.add_argument("--unique", type=int, default=60_000, help="deliveries to pre-sign")
    closed.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency of uvicorn[standard]
        pass
    secret = args.secret_file.read_text().strip()
    if args.command == "closed":
        deliveries = make_deliveries(secret, args.unique, args.duplicate_share)
        result = asyncio.run(closed_run(args.port, deliveries, args.duration, args.connections))
        args.out.write_text(json.dumps(result))
        sys.exit(0)
    count = int(args.rate * args.duration)
    unique = round(count * (1 - args.duplicate_share)) + 1
    deliveries = make_deliveries(secret, unique, args.duplicate_share)
    result = asyncio.run(
        rate_run(args.port, deliveries, args.rate, args.duration, args.connections)
    )
    args.out.write_text(json.dumps(result))
    sys.exit(0)


if __name__ == "__main__":
    main()
