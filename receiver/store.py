"""``landing.duckdb``, owned by this receiver for its lifetime, written by group commit.

Requests put their verified deliveries into the open *batch*. It goes to the writer process
(``receiver.writer``) when it holds ``batch_max_events`` deliveries or ``batch_max_ms`` after its
first, even while the writer is busy: the writer answers in order, and lands every batch that
queued up during its last commit as ONE transaction (parse, deduplicate, append, flush). It
answers once COMMIT returned: DuckDB has synced its write-ahead log by then, so every 2xx
survives ``kill -9``. Commits grow with the load, so commits per second stay bounded.

The writer is the only process with the DuckDB file open; a lock file taken here first makes a
second receiver on the same data directory refuse to start at once. If the writer fails or
dies, queued requests are answered 503 (the sender retries) and a fresh writer is started.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from receiver import wire

log = logging.getLogger("receiver.store")

RECOVERY_INTERVAL = 1.0  # seconds between attempts to restart a failed writer
START_TIMEOUT = 60.0  # the writer's start: Python, DuckDB, and a dead writer's lock to clear
STOP_TIMEOUT = 30.0  # the writer's stop: its last commit and the checkpoint on close
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The writer's DuckDB memory limit (MMQ_RECEIVER_MEMORY_LIMIT_MB) need not grow with the table:
# raw_events has no index to hold in memory, so the working set is a checkpoint's worth of rows
# (~16 MB of write-ahead log) or a feed page (up to 8 MB). 24 MB carried 400,000 events of 1 KB.
DEFAULT_MEMORY_LIMIT_MB = 24


class StoreError(RuntimeError):
    """The landing store cannot be opened (the message says why and what to do)."""


class StoreLocked(StoreError):
    """Another process already owns this landing file."""


class StoreUnavailable(RuntimeError):
    """The landing store could not commit; the caller answers 503 and the sender retries."""


@dataclass(slots=True)
class Landed:
    """What became of one delivery: its event id, and whether it is new (else a retry)."""

    event_id: str
    is_new: bool


@dataclass(slots=True)
class Commit:
    """A batch the writer answered, for the metrics."""

    size: int
    new: int
    unparseable: int
    unknown_type: int
    test: int
    committed: int | None  # new rows of the transaction this batch closed (None: not the last)
    seconds: float  # from handing the batch to the writer to its answer


class Batch:
    __slots__ = ("done", "items", "opened_at", "sent_at")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.items: list[tuple] = []
        self.done: asyncio.Future = loop.create_future()
        self.opened_at = loop.time()
        self.sent_at = 0.0


class Writer:
    """The writer process and this end of its socket."""

    def __init__(self, process: subprocess.Popen, sock: socket.socket) -> None:
        self.process = process
        self.sock = sock
        self.reader: asyncio.StreamReader | None = None
        self.stream: asyncio.StreamWriter | None = None
        self.replies: asyncio.Task | None = None  # reads this writer's answers

    async def connect(self) -> None:
        self.reader, self.stream = await asyncio.open_unix_connection(sock=self.sock)

    def hang_up(self) -> None:
        """Close our end: the writer then closes the database and exits (on the loop's thread,
        which owns the stream)."""
        if self.stream is not None:
            self.stream.close()
        else:
            self.sock.close()

    def wait(self) -> None:
        """Wait for the process to exit (blocking: run it in an executor)."""
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.error("the landing writer did not stop within %.0f s; killing it", STOP_TIMEOUT)
            self.process.kill()
            self.process.wait()


class LandingStore:
    def __init__(
        self,
        path: Path,
        *,
        batch_max_events: int = 500,
        batch_max_ms: float = 2.0,
        max_queued_events: int = 20_000,
        recent_ids: int = 100_000,  # days of retries at production rates; older ones hit the key
        memory_limit_mb: int = DEFAULT_MEMORY_LIMIT_MB,
    ) -> None:
        self.path = Path(path)
        self.batch_max_events = batch_max_events
        self.batch_max_seconds = batch_max_ms / 1000
        self.max_queued_events = max_queued_events
        self.recent_ids = recent_ids
        self.memory_limit_mb = memory_limit_mb
        self.last_seq = 0
        self.fed_seq = 0  # highest seq handed out by the feed (for the freshness gauge)
        self.queued = 0  # deliveries waiting in batches, including the one committing
        self.broken: str | None = None  # why the store cannot commit right now
        self.on_commit: Callable[[Commit], None] | None = None  # metrics hook
        self._open: Batch | None = None  # filling; sent when full or when its window ends
        self._window: asyncio.TimerHandle | None = None
        # Sent to the writer and not answered yet, in order: batches, and the futures of feed
        # and gauge requests. The writer answers in the order it was asked.
        self._inflight: deque[Batch | asyncio.Future] = deque()
        self._closing = False
        self._writer: Writer | None = None
        self._recovery: asyncio.Task | None = None
        self._lock_file = None

    @property
    def is_open(self) -> bool:
        return self._lock_file is not None

    @property
    def writer_pid(self) -> int | None:
        return self._writer.process.pid if self._writer is not None else None

    # --- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Take the lock file, then start the writer (raises StoreLocked / StoreError)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_file = open(f"{self.path}.lock", "a+")  # noqa: SIM115 — held for our lifetime
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            holder = lock_file.read().strip() or "unknown"
            lock_file.close()
            raise StoreLocked(
                f"another receiver (pid {holder}) is already running on {self.path}: "
                "one process owns the landing file; stop that receiver first"
            ) from None
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"{os.getpid()}\n")
        lock_file.flush()
        try:
            self._writer = self._spawn()
        except BaseException:
            lock_file.close()
            raise
        self._lock_file = lock_file
        log.info("landing store %s open at seq %d", self.path, self.last_seq)

    def _spawn(self) -> Writer:
        """Start a writer process and wait for it to have the database open."""
        ours, theirs = socket.socketpair()
        command = [sys.executable, "-m", "receiver.writer", "--fd", str(theirs.fileno())]
        command += ["--path", str(self.path), "--memory-limit-mb", str(self.memory_limit_mb)]
        command += ["--recent-ids", str(self.recent_ids)]
        command += ["--log-level", logging.getLevelName(logging.getLogger().getEffectiveLevel())]
        paths = [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]
        python_path = os.pathsep.join(path for path in paths if path)
        try:
            process = subprocess.Popen(
                command, pass_fds=(theirs.fileno(),), env={**os.environ, "PYTHONPATH": python_path}
            )
        finally:
            theirs.close()
        try:
            ours.settimeout(START_TIMEOUT)
            hello = wire.receive(ours)
            ours.settimeout(None)
        except (OSError, wire.WriterGone) as exc:
            ours.close()
            process.kill()
            process.wait()
            raise StoreError(f"the landing writer for {self.path} did not start: {exc}") from None
        if hello[0] == "refused":
            ours.close()
            process.wait()
            raise (StoreLocked if hello[1] == "locked" else StoreError)(hello[2])
        self.last_seq = hello[1]
        return Writer(process, ours)

    async def start(self) -> None:
        assert self._writer is not None, "open() first"
        await self._connect(self._writer)

    async def _connect(self, writer: Writer) -> None:
        await writer.connect()
        writer.replies = asyncio.create_task(self._read_replies(writer), name="landing-replies")

    async def close(self) -> None:
        """Commit every queued batch, then stop the writer (graceful shutdown)."""
        self._closing = True
        if self._open is not None and self.broken is None:
            self._send_open_batch()
        waiting = [w if isinstance(w, asyncio.Future) else w.done for w in self._inflight]
        await asyncio.gather(*waiting, return_exceptions=True)
        if self._recovery is not None:  # it stops trying once closing; let it finish a start
            await asyncio.gather(self._recovery, return_exceptions=True)
        if self._writer is not None:
            self._writer.hang_up()
            await asyncio.get_running_loop().run_in_executor(None, self._writer.wait)
            self._writer = None
        # A request sent after the wait above (a feed page during shutdown) has no answer coming.
        while self._inflight:
            self._settle(self._inflight.popleft(), StoreUnavailable("shutting down"))
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # --- landing -----------------------------------------------------------------------------
    async def land(self, item: tuple) -> Landed:
        """Land ``item`` (body, webhook id, kept headers, received at) durably, unless it was
        landed before. Raises StoreUnavailable."""
        if self.broken is not None or self._closing:
            raise StoreUnavailable(self.broken or "shutting down")
        if self.queued >= self.max_queued_events:
            raise StoreUnavailable(f"{self.queued} events queued; try again shortly")
        batch = self._open
        if batch is None:
            loop = asyncio.get_running_loop()
            batch = self._open = Batch(loop)
            self._window = loop.call_at(batch.opened_at + self.batch_max_seconds, self._window_ends)
        index = len(batch.items)
        batch.items.append(item)
        self.queued += 1
        if len(batch.items) >= self.batch_max_events:
            self._send_open_batch()
        event_ids, is_new = await asyncio.shield(batch.done)
        return Landed(event_ids[index], is_new[index])

    def _window_ends(self) -> None:
        self._window = None
        if self._open is not None:
            self._send_open_batch()

    def _send_open_batch(self) -> None:
        batch, self._open = self._open, None
        assert batch is not None
        if self._window is not None:
            self._window.cancel()
            self._window = None
        batch.sent_at = time.perf_counter()
        self._send(("land", batch.items), batch)

    def _send(self, message: tuple, waiter: Batch | asyncio.Future) -> None:
        """Queue ``message`` on the writer's socket; ``waiter`` receives its answer."""
        self._inflight.append(waiter)
        try:
            assert self._writer is not None and self._writer.stream is not None
            self._writer.stream.write(wire.encode(message))
        except Exception as exc:  # the socket is gone: answer everything, start a new writer
            self._break(f"landing writer failed: {exc}")

    async def _read_replies(self, writer: Writer) -> None:
        assert writer.reader is not None
        while True:
            try:
                reply = await wire.read(writer.reader)
            except (wire.WriterGone, OSError) as exc:
                # Closing, the writer hangs up once nothing is in flight: that is the end. If it
                # dies with answers owed (even during close(), which waits for them), those
                # requests are answered 503 now.
                owed = self._inflight or not self._closing
                if writer is self._writer and self.broken is None and owed:
                    self._break(f"landing writer failed: {exc}")
                return
            if writer is not self._writer or not self._inflight:
                return  # an answer for requests that were already settled
            waiter = self._inflight.popleft()
            try:
                if reply[0] == "failed":  # the writer logged it and exits
                    self._inflight.appendleft(waiter)
                    self._break(f"landing writer failed: {reply[1]}")
                elif isinstance(waiter, Batch):
                    self._landed(waiter, reply)
                else:
                    waiter.set_result(reply)
            except Exception as exc:  # never let this task die: requests would hang
                log.exception("error handling the landing writer's answer")
                self._break(f"landing store error: {exc}")

    def _landed(self, batch: Batch, reply: tuple) -> None:
        _, event_ids, is_new, counts, self.last_seq, committed = reply
        if self.on_commit is not None:
            seconds = time.perf_counter() - batch.sent_at
            self.on_commit(Commit(len(is_new), sum(is_new), *counts, committed, seconds))
        self._settle(batch, (event_ids, is_new))

    async def _request(self, message: tuple) -> tuple:
        """Ask the writer something (in turn with the batches); StoreUnavailable if it cannot
        answer. Shielded: a cancelled caller leaves the answer to be read and dropped."""
        if self.broken is not None or self._writer is None:
            raise StoreUnavailable(self.broken or "the landing store is closed")
        answer = asyncio.get_running_loop().create_future()
        self._send(message, answer)
        return await asyncio.shield(answer)

    def _break(self, reason: str) -> None:
        """Mark the store broken, answer everything in flight or queued at once (503: retry
        later) and start a new writer."""
        if self.broken is None:
            log.error("%s; answering 503 until a new writer is up", reason)
        self.broken = reason
        waiting = list(self._inflight)
        self._inflight.clear()
        if self._open is not None:
            waiting.append(self._open)
            self._open = None
        if self._window is not None:
            self._window.cancel()
            self._window = None
        for waiter in waiting:
            self._settle(waiter, StoreUnavailable(reason))
        if not self._closing and (self._recovery is None or self._recovery.done()):
            self._recovery = asyncio.get_running_loop().create_task(self._recover())

    def _settle(self, waiter: Batch | asyncio.Future, outcome: tuple | Exception) -> None:
        if isinstance(waiter, Batch):
            self.queued -= len(waiter.items)
            waiter = waiter.done
        if isinstance(outcome, Exception):
            waiter.set_exception(outcome)
            waiter.exception()  # retrieved: nobody may be waiting any more (disconnects)
        else:
            waiter.set_result(outcome)

    async def _recover(self) -> None:
        """Replace the failed writer; retry every RECOVERY_INTERVAL until one is up."""
        loop = asyncio.get_running_loop()
        while self.broken is not None and not self._closing:
            old, self._writer = self._writer, None
            try:
                if old is not None:
                    old.process.kill()  # it failed: no commit of it is waited for any more
                    old.hang_up()
                    await loop.run_in_executor(None, old.wait)
                writer = await loop.run_in_executor(None, self._spawn)
                await self._connect(writer)
            except Exception as exc:
                log.error("landing store still unavailable: %s", exc)
                await asyncio.sleep(RECOVERY_INTERVAL)
                continue
            self._writer = writer
            log.warning("landing store reopened at seq %d", self.last_seq)
            self.broken = None

    # --- reads for the app -------------------------------------------------------------------
    async def read_feed(self, after: int, limit: int, max_bytes: int) -> list[tuple]:
        """Rows with seq > after in seq order: at most ``limit`` rows or about ``max_bytes``."""
        return (await self._request(("feed", after, limit, max_bytes)))[1]

    async def oldest_unfed_age(self) -> float:
        if self.fed_seq >= self.last_seq:
            return 0.0
        try:
            return (await self._request(("oldest", self.fed_seq)))[1]
        except StoreUnavailable:
            return 0.0
