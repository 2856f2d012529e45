"""``landing.duckdb``, owned by this process for its lifetime, written by group commit.

One writer task drains a queue: up to ``batch_max_events`` rows or ``batch_max_ms`` of waiting
become ONE transaction through the DuckDB appender, on one dedicated thread. Each request is
answered only after its batch committed, so every 2xx is durable (DuckDB syncs its WAL on
commit). Deduplication is exact: every landed id is kept in memory (a few MB per 100k events),
with the primary key as the backstop.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

from receiver.events import LandingRow

log = logging.getLogger("receiver.store")

DDL = """
CREATE TABLE IF NOT EXISTS raw_events (
    seq BIGINT PRIMARY KEY,
    event_id VARCHAR NOT NULL UNIQUE,
    webhook_id VARCHAR NOT NULL,
    event_type VARCHAR,
    event_timestamp TIMESTAMPTZ,
    received_at TIMESTAMPTZ NOT NULL,
    body BLOB NOT NULL,
    headers JSON,
    is_parseable BOOLEAN NOT NULL,
    is_known_type BOOLEAN NOT NULL,
    is_test BOOLEAN NOT NULL
)
"""
FEED_COLUMNS = (
    "seq, event_id, webhook_id, event_type, event_timestamp, received_at, "
    "is_parseable, is_known_type, is_test, body"
)


class StoreLocked(RuntimeError):
    """Another receiver already owns this landing file."""


class StoreUnavailable(RuntimeError):
    """The landing store could not commit; the caller answers 503 and the sender retries."""


class LandingStore:
    def __init__(
        self,
        path: Path,
        *,
        batch_max_events: int = 500,
        batch_max_ms: float = 5.0,
        memory_limit: str = "128MB",
    ) -> None:
        self.path = Path(path)
        self.batch_max_events = batch_max_events
        self.batch_max_seconds = batch_max_ms / 1000
        self.memory_limit = memory_limit
        self.ids: set[str] = set()
        self.pending: dict[str, asyncio.Future] = {}
        self.last_seq = 0
        self.fed_seq = 0  # highest seq handed out by the feed (for the freshness gauge)
        self.queue: asyncio.Queue[tuple[LandingRow, asyncio.Future]] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="landing-writer")
        self._lock_file = None
        self.conn: duckdb.DuckDBPyConnection | None = None
        self.on_commit = None  # callback(batch_size, seconds) for metrics

    # --- lifecycle -----------------------------------------------------------------------
    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(f"{self.path}.lock", "w")  # noqa: SIM115 — held for our lifetime
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise StoreLocked(
                f"another receiver is already running on {self.path} "
                "(one process owns the landing file; stop it first)"
            ) from None
        self._lock_file.write(str(os.getpid()))
        self._lock_file.flush()
        self.conn = duckdb.connect(str(self.path), config={"memory_limit": self.memory_limit})
        self.conn.execute(DDL)
        self.last_seq = self.conn.execute(
            "SELECT coalesce(max(seq), 0) FROM raw_events"
        ).fetchone()[0]
        self.ids = {
            row[0] for row in self.conn.execute("SELECT event_id FROM raw_events").fetchall()
        }

    async def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="landing-writer")

    async def close(self) -> None:
        """Commit what is queued, then close (graceful shutdown)."""
        if self._writer is not None:
            await self.queue.join()
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close_conn)
        self._thread.shutdown(wait=True)
        if self._lock_file is not None:
            self._lock_file.close()

    def _close_conn(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # --- landing -------------------------------------------------------------------------
    async def land(self, row: LandingRow) -> bool:
        """Land ``row`` durably; return False when it is a duplicate. Raises StoreUnavailable."""
        if row.event_id in self.ids:
            return False
        waiting = self.pending.get(row.event_id)
        if waiting is not None:  # a concurrent duplicate: answer once the first one committed
            await asyncio.shield(waiting)
            return False
        future = asyncio.get_running_loop().create_future()
        self.pending[row.event_id] = future
        self.queue.put_nowait((row, future))
        await asyncio.shield(future)
        return True

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            deadline = loop.time() + self.batch_max_seconds
            while len(batch) < self.batch_max_events:
                if self.queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(self.queue.get(), remaining))
                    except TimeoutError:
                        break
                else:
                    batch.append(self.queue.get_nowait())
            rows = [row for row, _ in batch]
            started = time.perf_counter()
            try:
                await loop.run_in_executor(self._thread, self._commit, rows)
                error = None
            except Exception as exc:
                log.error("landing commit of %d events failed: %s", len(rows), exc)
                error = StoreUnavailable(str(exc))
            if self.on_commit is not None and error is None:
                self.on_commit(len(rows), time.perf_counter() - started)
            for row, future in batch:
                self.pending.pop(row.event_id, None)
                if error is None:
                    self.ids.add(row.event_id)
                    future.set_result(True)
                else:
                    future.set_exception(error)
                self.queue.task_done()

    def _commit(self, rows: list[LandingRow]) -> None:
        assert self.conn is not None
        first = self.last_seq + 1
        values = [
            (
                first + i,
                r.event_id,
                r.webhook_id,
                r.event_type,
                r.event_timestamp,
                r.received_at,
                r.body,
                r.headers,
                r.is_parseable,
                r.is_known_type,
                r.is_test,
            )
            for i, r in enumerate(rows)
        ]
        self.conn.execute("BEGIN")
        try:
            appender = self.conn.appender("raw_events")
            appender.append_rows(values)
            appender.flush()
            self.conn.execute("COMMIT")
        except Exception:
            self.conn.execute("ROLLBACK")
            raise
        self.last_seq = first + len(rows) - 1

    # --- feed ----------------------------------------------------------------------------
    def read_feed(self, after: int, limit: int, max_bytes: int) -> list[tuple]:
        """Rows with seq > after in seq order, at most ``limit`` rows or about ``max_bytes``."""
        assert self.conn is not None
        cursor = self.conn.cursor()
        try:
            rows = cursor.execute(
                f"SELECT {FEED_COLUMNS} FROM raw_events WHERE seq > ? ORDER BY seq LIMIT ?",
                [after, limit],
            ).fetchall()
        finally:
            cursor.close()
        out, size = [], 0
        for row in rows:
            size += len(row[-1]) + 300
            if out and size > max_bytes:
                break
            out.append(row)
        return out

    def oldest_unfed_age(self) -> float:
        assert self.conn is not None
        cursor = self.conn.cursor()
        try:
            row = cursor.execute(
                "SELECT epoch(now()) - epoch(min(received_at)) FROM raw_events WHERE seq > ?",
                [self.fed_seq],
            ).fetchone()
        finally:
            cursor.close()
        return float(row[0] or 0.0)
