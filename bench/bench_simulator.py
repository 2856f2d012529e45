"""Simulator benchmark: memory at the contract's scale, read requests/s and webhook deliveries/s.

Every party runs in its own process, as in production: the simulator (``python -m mmq simulator``,
seeded with ``--seed-submissions``), a no-op webhook sink (uvicorn), and the load generators
(wrk for reads when installed, else httpx). Each figure comes with a baseline measured in the
same run on the same stack:

- reads: the same load against a trivial FastAPI endpoint served by the same uvicorn = ceiling;
- deliveries: plain unsigned httpx POSTs to the same sink at the same concurrency = ceiling.

Targets (issue 2): >= 1,000 reads/s and >= 500 deliveries/s on a 2-core box.

    python bench/bench_simulator.py            # full run
    python bench/bench_simulator.py --quick    # short smoke run (noisy figures)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from mmq.contract import API_PREFIX  # noqa: E402
from mmq.netutil import free_port, wait_for_http  # noqa: E402

READ_TARGET = 1_000.0
DELIVERY_TARGET = 500.0
KEY_ENV = "MMQ_BENCH_API_KEY"  # the load processes get the key by environment
COMPLETED = "asset.processing.completed"


# --- roles run in child processes --------------------------------------------------------------
def serve_sink(port: int) -> None:
    """A no-op webhook receiver: counts POSTs, answers 204; ``GET /count`` reports the count."""
    import uvicorn

    received = 0

    async def app(scope, receive, send):
        nonlocal received
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        if scope["method"] == "POST":
            received += 1
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        body = str(received).encode()
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_baseline(port: int) -> None:
    """The ceiling for reads: a trivial FastAPI endpoint on the simulator's own stack."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get(API_PREFIX + "/submissions/{submission_id}")
    async def status(submission_id: str) -> dict:
        return {"submissionId": submission_id, "status": "complete", "assets": []}

    @app.get(API_PREFIX + "/submissions/{submission_id}/assets/{asset_id}/{kind}")
    async def results(submission_id: str, asset_id: str, kind: str) -> dict:
        return {"assetId": asset_id, kind: []}

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    # Same call as `mmq simulator`: uvicorn.run with its defaults (uvloop, httptools if present).
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def read_paths(key: str, submissions: int, assets: int) -> list[str]:
    """Status, issues and topics of random seeded ids, shuffled (precomputed: uuid5 per request
    would load the generator, not the server)."""
    from simulator.seeding import seeded_asset_id, seeded_submission_id

    rng = random.Random(1)
    paths = []
    for _ in range(5000):
        i, k = rng.randrange(submissions), rng.randrange(assets)
        sid, aid = seeded_submission_id(key, i), seeded_asset_id(key, i, k)
        base = f"{API_PREFIX}/submissions/{sid}"
        paths += [base, f"{base}/assets/{aid}/issues", f"{base}/assets/{aid}/topics"]
    rng.shuffle(paths)
    return paths


async def read_load(url: str, connections: int, seconds: float, submissions: int, assets: int):
    """Closed-loop reads (status, issues, topics of seeded ids) on ``connections`` connections;
    prints a JSON summary. The first 10% of the time is warm-up and not counted."""
    key = os.environ[KEY_ENV]
    paths = read_paths(key, submissions, assets)
    counts = {"ok": 0, "not_found": 0, "error": 0}
    warmup = seconds * 0.1
    started = time.monotonic()
    measure_from, stop_at = started + warmup, started + warmup + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        base_url=url, headers={"X-API-Key": key}, limits=limits, timeout=30
    ) as http:

        async def worker(offset: int) -> None:
            n = offset
            while (now := time.monotonic()) < stop_at:
                response = await http.get(paths[n % len(paths)])
                n += connections
                if now < measure_from:
                    continue
                if response.status_code == 200:
                    counts["ok"] += 1
                elif response.status_code == 404:  # a seeded asset that failed: no results
                    counts["not_found"] += 1
                else:
                    counts["error"] += 1

        await asyncio.gather(*(worker(n) for n in range(connections)))
    print(json.dumps(counts | {"seconds": seconds}))


async def post_load(url: str, count: int, concurrency: int, body_size: int) -> None:
    """The delivery ceiling: ``count`` plain POSTs of a webhook-sized body, no signing."""
    body = b'{"id":"evt_x","type":"asset.processing.completed","data":{}}'.ljust(body_size)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    remaining = count
    failures = 0
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:

        async def worker() -> None:
            nonlocal remaining, failures
            while remaining > 0:
                remaining -= 1
                response = await http.post(
                    url, content=body, headers={"content-type": "application/json"}
                )
                failures += response.status_code >= 300

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.monotonic() - started
    print(json.dumps({"sent": count, "failures": failures, "seconds": seconds}))


# --- orchestration -----------------------------------------------------------------------------
def me(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args]


@contextmanager
def process(command: list[str], env: dict | None = None, health: str | None = None):
    """A child process for the block's duration (terminated, then killed, at the end)."""
    child = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        if health:
            wait_for_http(health, timeout=180, process=child)
        yield child
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_reads(url: str, env: dict, args) -> dict:
    command = me(
        "--role",
        "reads",
        "--url",
        url,
        "--connections",
        str(args.connections),
        "--seconds",
        str(args.read_seconds),
        "--submissions",
        str(args.submissions),
        "--assets-per-submission",
        str(args.assets_per_submission),
    )
    out = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=600
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["rate"] = (result["ok"] + result["not_found"]) / result["seconds"]
    return result


def run_reads_wrk(url: str, env: dict, args, work: Path) -> dict:
    """The same reads driven by wrk (C, several threads): the generator is no longer the limit."""
    paths_file = work / "paths.txt"
    key = env[KEY_ENV]
    paths_file.write_text("\n".join(read_paths(key, args.submissions, args.assets_per_submission)))
    command = ["wrk", "-t2", f"-c{args.wrk_connections}", f"-d{args.read_seconds:.0f}s"]
    command += ["--timeout", "10s", "-s", str(ROOT / "bench" / "simulator_reads.lua"), url]
    out = subprocess.run(
        command,
        env=env | {"MMQ_BENCH_PATHS": str(paths_file)},
        capture_output=True,
        text=True,
        timeout=args.read_seconds + 120,
    )
    for line in out.stdout.splitlines():
        if line.startswith("MMQ_WRK_RESULT "):
            raw = json.loads(line.split(" ", 1)[1])
            seconds = raw["duration_us"] / 1e6
            return {
                "ok": raw["requests"] - raw["non_2xx_3xx"],
                "not_found": raw["non_2xx_3xx"],  # failed seeded assets have no results
                "error": raw["socket_errors"],
                "seconds": seconds,
                "rate": raw["requests"] / seconds,
                "p99_ms": raw["p99_us"] / 1000,
            }
    raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")


def sink_count(sink_url: str) -> int:
    return int(httpx.get(sink_url.rsplit("/", 1)[0] + "/count", timeout=10).text)


def run_deliveries(base_url: str, key: str, sink_url: str, args) -> dict:
    """Subscriptions to the sink, then sandbox fires; time until the sink has every delivery."""
    from simulator.seeding import seeded_submission_id

    api = httpx.Client(base_url=base_url + API_PREFIX, headers={"X-API-Key": key}, timeout=30)
    subscription_ids = []
    with api:
        for n in range(args.subscriptions):
            body = {"endpointUrl": sink_url, "eventTypes": [COMPLETED], "description": f"b{n}"}
            created = api.post("/webhooks/subscriptions", json=body)
            created.raise_for_status()
            subscription_ids.append(created.json()["id"])
        per_fire = args.subscriptions * args.assets_per_submission
        fires = max(1, args.deliveries // per_fire)
        expected = fires * per_fire
        before = sink_count(sink_url)

        async def fire_all() -> int:
            limits = httpx.Limits(max_connections=8)
            async with httpx.AsyncClient(
                base_url=base_url + API_PREFIX, headers={"X-API-Key": key}, limits=limits
            ) as http:
                gate = asyncio.Semaphore(8)

                async def one(i: int) -> int:
                    async with gate:
                        body = {
                            "eventType": COMPLETED,
                            "submissionId": seeded_submission_id(key, i),
                        }
                        fired = await http.post("/sandbox/events/fire", json=body)
                        fired.raise_for_status()
                        return fired.json()["dispatched"]

                return sum(await asyncio.gather(*(one(i) for i in range(fires))))

        started = time.monotonic()
        dispatched = asyncio.run(fire_all())
        deadline = started + 600
        while (got := sink_count(sink_url) - before) < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        seconds = time.monotonic() - started
        failed = sum(
            api.get(
                f"/webhooks/subscriptions/{sid}/deliveries",
                params={"status_filter": "FAILED", "limit": 200},
            ).json()["total"]
            for sid in subscription_ids
        )
    return {
        "dispatched": dispatched,
        "delivered": got,
        "expected": expected,
        "failed_attempts": failed,
        "seconds": seconds,
        "rate": got / seconds,
    }


def run_post_baseline(sink_url: str, count: int, concurrency: int) -> dict:
    command = me(
        "--role",
        "posts",
        "--url",
        sink_url,
        "--count",
        str(count),
        "--connections",
        str(concurrency),
    )
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=600)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["rate"] = result["sent"] / result["seconds"]
    return result


def verdict(value: float, target: float) -> str:
    return "PASS" if value >= target else "FAIL"


def orchestrate(args) -> int:
    from simulator.testing import new_key

    key = new_key("test")
    env = os.environ | {KEY_ENV: key, "PYTHONPATH": str(ROOT)}
    sim_port, sink_port, base_port = free_port(), free_port(), free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    sink_url = f"http://127.0.0.1:{sink_port}/webhooks/integrations"
    mode = "quick, noisy" if args.quick else "full"
    # wrk (C) when installed: an httpx generator saturates before the server does.
    use_wrk = shutil.which("wrk") is not None and not args.no_wrk
    load = f"wrk, {args.wrk_connections}" if use_wrk else f"httpx, {args.connections}"
    print(
        f"simulator benchmark ({mode}); {os.cpu_count()} CPUs; read load: {load} connections; "
        f"delivery workers {args.delivery_concurrency}; separate processes"
    )
    simulator = [
        sys.executable, "-m", "mmq", "simulator",
        "--port", str(sim_port),
        "--seed-submissions", str(args.submissions),
        "--seed-assets-per-submission", str(args.assets_per_submission),
        # The benchmark measures the server, not the token buckets.
        "--rate-limit", "1e9", "--rate-limit-burst", "1000000000",
        "--allow-insecure-endpoints",
        "--subscription-limit", str(max(10, args.subscriptions)),
        "--delivery-concurrency", str(args.delivery_concurrency),
    ]  # fmt: skip
    with ExitStack() as stack:
        # The key goes in by --api-key; the command line is only visible on this machine and the
        # key is a throw-away sandbox key generated for this run.
        started = time.monotonic()
        sim = stack.enter_context(
            process([*simulator, "--api-key", key], env, health=f"{sim_url}/health")
        )
        seed_seconds = time.monotonic() - started
        rss = rss_mb(sim.pid)
        print(
            f"seeded {args.submissions:,} submissions / "
            f"{args.submissions * args.assets_per_submission:,} assets: "
            f"start+seed {seed_seconds:.1f}s, simulator RSS {rss:.0f} MB"
        )
        stack.enter_context(process(me("--role", "sink", "--port", str(sink_port)), env))
        wait_for_http(sink_url.rsplit("/", 1)[0] + "/count", timeout=60)

        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-sim-")))

        def reads_of(url: str) -> dict:
            return run_reads_wrk(url, env, args, work) if use_wrk else run_reads(url, env, args)

        reads = reads_of(sim_url)
        with process(
            me("--role", "baseline", "--port", str(base_port)),
            env,
            health=f"http://127.0.0.1:{base_port}/health",
        ):
            ceiling = reads_of(f"http://127.0.0.1:{base_port}")
        print(
            f"reads:      {reads['rate']:8,.0f} req/s  (ok {reads['ok']}, 404 failed-asset "
            f"{reads['not_found']}, errors {reads['error']})  ceiling {ceiling['rate']:,.0f} "
            f"req/s (trivial FastAPI)  ratio {reads['rate'] / ceiling['rate']:.2f}  "
            f"target >= {READ_TARGET:,.0f}: {verdict(reads['rate'], READ_TARGET)}"
        )

        deliveries = run_deliveries(sim_url, key, sink_url, args)
        posts = run_post_baseline(sink_url, deliveries["expected"], args.delivery_concurrency)
        print(
            f"deliveries: {deliveries['rate']:8,.0f} /s     ({deliveries['delivered']} of "
            f"{deliveries['expected']} in {deliveries['seconds']:.1f}s, "
            f"{args.subscriptions} subscriptions)  ceiling {posts['rate']:,.0f} /s (unsigned "
            f"httpx POSTs, same sink)  ratio {deliveries['rate'] / posts['rate']:.2f}  "
            f"target >= {DELIVERY_TARGET:,.0f}: {verdict(deliveries['rate'], DELIVERY_TARGET)}"
        )
        print(f"simulator RSS after the run: {rss_mb(sim.pid):.0f} MB")
    ok = (
        reads["error"] == 0
        and deliveries["delivered"] == deliveries["expected"]
        and reads["rate"] >= READ_TARGET
        and deliveries["rate"] >= DELIVERY_TARGET
    )
    if args.quick:
        return 0  # a smoke run on a shared box: figures are indicative only
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short smoke run (noisy figures)")
    parser.add_argument("--submissions", type=int, default=10_000, help="seeded submissions")
    parser.add_argument("--assets-per-submission", type=int, default=5, help="assets each")
    parser.add_argument("--connections", type=int, default=4, help="httpx read connections")
    parser.add_argument("--wrk-connections", type=int, default=32, help="wrk read connections")
    parser.add_argument("--no-wrk", action="store_true", help="read load by httpx even with wrk")
    parser.add_argument("--read-seconds", type=float, default=None, help="measured read time")
    parser.add_argument("--deliveries", type=int, default=None, help="webhook deliveries to time")
    parser.add_argument("--subscriptions", type=int, default=10, help="subscriptions to the sink")
    parser.add_argument(
        "--delivery-concurrency", type=int, default=8, help="simulator delivery workers"
    )
    # Internal: the child processes this script starts.
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "sink":
        serve_sink(args.port)
        return 0
    if args.role == "baseline":
        serve_baseline(args.port)
        return 0
    if args.role == "reads":
        asyncio.run(
            read_load(
                args.url,
                args.connections,
                args.seconds,
                args.submissions,
                args.assets_per_submission,
            )
        )
        return 0
    if args.role == "posts":
        asyncio.run(post_load(args.url, args.count, args.connections, body_size=300))
        return 0
    if args.read_seconds is None:
        args.read_seconds = 3.0 if args.quick else 15.0
    if args.deliveries is None:
        args.deliveries = 2_000 if args.quick else 20_000
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
