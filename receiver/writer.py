"""The landing store's writer: the one process that has ``landing.duckdb`` open.

The receiver (``receiver.store``) starts it as a child process and talks to it over a private
socketpair (``receiver.wire``), one request at a time: land a batch, read a feed page, tell the
age of the oldest unfed event. Keeping DuckDB in its own process keeps it off the receiver's
GIL: an appender flush and its fsync run here, in parallel with the HTTP event loop, instead of
taking turns with it (in one process every commit waited for the loop to hand the GIL back).

Parsing, deduplication and the commit all happen here, so the event loop only verifies and
forwards. A batch is landed in ONE transaction; the reply goes back only after the flush
returned, when DuckDB has synced its write-ahead log. ``seq`` is assigned here, by the only
writer, so it is dense (1, 2, 3, …) and commits in order.

Deduplication is exact. The ids landed most recently are kept in memory (two generations, so
memory is bounded); the UNIQUE key on ``event_id`` is the backstop for older ones: the appender
refuses the batch, the batch is checked against the table and landed again without them.

It ignores SIGINT and SIGTERM: the receiver decides when it stops. When the receiver closes the
socket (a graceful stop, or the receiver died), it closes the database and exits. Any failure
is answered ``failed`` and ends the process; the receiver starts a fresh one, which reopens the
file and re-reads ``seq``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import signal
import socket
import sys
import time
from datetime import UTC, datetime

import duckdb

from receiver import wire
from receiver.events import LandingRow, landing_row

log = logging.getLogger("receiver.writer")

DDL = """
CREATE TABLE IF NOT EXISTS raw_events (
    seq BIGINT NOT NULL,
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
FEED_ROW_OVERHEAD = 300  # bytes of JSON around each body in a feed page, roughly
# DuckDB's memory limit follows the table: a checkpoint (every ~16 MB of write-ahead log) holds
# the indexes in memory, and with a fixed 32 MB limit it failed between 200,000 and 300,000
# events (~120 bytes each), which would stop the receiver for good. A limit sized to the table
# keeps the footprint small while the file is small, up to the configured ceiling.
MEMORY_BASE = 24 * 2**20
MEMORY_PER_EVENT = 150  # bytes, with headroom over the ~120 measured
MEMORY_STEP_EVENTS = 10_000  # re-sized after this many more events
# Rows per row group of raw_events (DuckDB's default is 122,880). A checkpoint (every ~16 MB of
# write-ahead log, ~11,500 events) rewrites the table's unfinished row group whole while every
# commit waits: with the default that stall grew with the group, to 0.3 s at 100,000 rows and
# 0.45 s every third checkpoint at 16,384. At 4,096 it stays near 70 ms (measured to 200,000
# events); the feed's `seq > ?` scans skip row groups by their min/max all the same.
ROW_GROUP_ROWS = 4_096
# Batches that wait at the writer together commit together, up to this many events (an appender
# flush stays one transaction up to 204,800 rows; a single batch is at most 100,000).
MERGE_MAX_EVENTS = 10_000
# A receiver killed with -9 leaves its writer finishing a commit and closing the file for a
# moment; a restarted receiver's writer waits this long for DuckDB's own lock to go.
LOCK_WAIT_SECONDS = 15.0


def attach(path: str, memory_limit: int) -> duckdb.DuckDBPyConnection:
    """A session on ``path`` with our row group size (a setting of ATTACH, not of connect)."""
    # One thread: a commit runs in this thread instead of handing tasks to DuckDB's workers
    # and waiting for the OS to schedule them next to a busy event loop.
    conn = duckdb.connect(config={"memory_limit": f"{memory_limit // 2**20}MiB", "threads": 1})
    quoted = path.replace("'", "''")
    try:
        conn.execute(f"ATTACH '{quoted}' AS landing (ROW_GROUP_SIZE {ROW_GROUP_ROWS})")
        conn.execute("USE landing")
    except BaseException:
        conn.close()
        raise
    return conn


class RecentIds:
    """Ids landed lately, in two generations: bounded memory, O(1) membership."""

    def __init__(self, capacity: int) -> None:
        self.generation = max(1, capacity // 2)
        self.current: set[str] = set()
        self.previous: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self.current or key in self.previous

    def __len__(self) -> int:
        return len(self.current) + len(self.previous)

    def add(self, key: str) -> None:
        self.current.add(key)
        if len(self.current) >= self.generation:
            self.previous, self.current = self.current, set()


class Refused(RuntimeError):
    """The database cannot be opened; ``kind`` is ``locked`` or ``error``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class LandingWriter:
    def __init__(self, path: str, *, memory_ceiling_mb: int, recent_ids: int) -> None:
        self.path = path
        self.recent = RecentIds(recent_ids)
        self.memory_ceiling = memory_ceiling_mb * 2**20
        self.conn = self._connect(self.memory_for(0))
        try:
            # Timestamps come back as Python datetimes in the session's zone; in UTC every
            # stored instant converts (year 1 in New York does not, and DuckDB hands back a str).
            self.conn.execute("SET TimeZone = 'UTC'")
            self.conn.execute(DDL)
            self.last_seq = self.conn.execute(
                "SELECT coalesce(max(seq), 0) FROM raw_events"
            ).fetchall()[0][0]
            recent = self.conn.execute(
                "SELECT event_id FROM raw_events ORDER BY seq DESC LIMIT ?",
                [self.recent.generation * 2 - 1],
            ).fetchall()
        except duckdb.Error as exc:
            self.conn.close()
            raise Refused("error", f"cannot read {path}: {exc}") from None
        for (event_id,) in reversed(recent):
            self.recent.add(event_id)
        self.resize_memory()
        # One appender for the life of the connection: creating one costs ~0.4 ms, as much as
        # landing 30 rows. Each flush is its own transaction.
        self.appender = self.conn.appender("raw_events")

    def memory_for(self, events: int) -> int:
        return min(self.memory_ceiling, MEMORY_BASE + events * MEMORY_PER_EVENT)

    def resize_memory(self) -> None:
        self.memory_limit = self.memory_for(self.last_seq + MEMORY_STEP_EVENTS)
        self.conn.execute(f"SET memory_limit = '{self.memory_limit // 2**20}MiB'")
        self.resize_at = self.last_seq + MEMORY_STEP_EVENTS

    def _connect(self, memory_limit: int) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                return attach(self.path, memory_limit)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise Refused("error", f"cannot open {self.path}: {exc}") from None
                if time.monotonic() >= deadline:
                    raise Refused(
                        "locked",
                        f"{self.path} is open in another process (a DuckDB session?); close it "
                        f"first, the receiver must be the only process with the file open ({exc})",
                    ) from None
                time.sleep(0.2)
            except duckdb.Error as exc:
                raise Refused("error", f"cannot open {self.path}: {exc}") from None

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):  # a broken database may complain; it is closed
            self.conn.close()

    # --- landing -----------------------------------------------------------------------------
    def land(self, items: list[tuple]) -> tuple[list[str], list[bool], tuple[int, int, int]]:
        """Land the new events among ``items`` (body, webhook id, kept headers, received at)
        in one transaction. Returns each item's event id, whether it was new, and how many
        new ones were unparseable, of an unknown type, or test events."""
        event_ids, is_new, landed = self._land(items)
        return event_ids, is_new, tally(landed)

    def land_requests(self, requests: list[list[tuple]]) -> list[tuple]:
        """Land the batches of several requests in ONE transaction; one answer per request, in
        order: ("landed", event ids, is new, counts, last seq, rows the transaction landed), the
        last item None in all answers but the last."""
        event_ids, is_new, landed = self._land([item for items in requests for item in items])
        answers, start = [], 0
        for items in requests:
            end = start + len(items)
            counts = tally(landed[start:end])
            answers.append(
                ("landed", event_ids[start:end], is_new[start:end], counts, self.last_seq, None)
            )
            start = end
        answers[-1] = (*answers[-1][:-1], sum(is_new))
        return answers

    def _land(self, items: list[tuple]) -> tuple[list[str], list[bool], list[LandingRow | None]]:
        """Event ids, whether each item was new, and the row landed for it (None: a retry)."""
        event_ids: list[str] = []
        landed: list[LandingRow | None] = []
        position: dict[str, int] = {}  # id -> index in the batch, for the unique-key fallback
        rows: list[LandingRow] = []
        for body, webhook_id, headers, received_at in items:
            row = landing_row(body, webhook_id, headers, received_at)
            key = row.event_id
            event_ids.append(key)
            # a sender retry, or the same event twice in this batch (concurrent retries)
            if key in self.recent or key in position:
                landed.append(None)
            else:
                position[key] = len(landed)
                landed.append(row)
                rows.append(row)
        for key in self._commit(rows):
            landed[position[key]] = None
        for row in rows:
            self.recent.add(row.event_id)
        if self.last_seq >= self.resize_at:
            self.resize_memory()
        return event_ids, [row is not None for row in landed], landed

    def _commit(self, rows: list[LandingRow]) -> set[str]:
        """Land ``rows`` in one transaction; returns the ids among them landed before."""
        try:
            self._append(rows)
            return set()
        except duckdb.ConstraintException:
            # An id older than the in-memory window: find which, land the rest.
            keys = [row.event_id for row in rows]
            old = {
                key
                for (key,) in self.conn.execute(
                    "SELECT event_id FROM raw_events WHERE event_id IN (SELECT unnest(?))",
                    [keys],
                ).fetchall()
            }
            self._append([row for row in rows if row.event_id not in old])
            return old

    def _append(self, rows: list[LandingRow]) -> None:
        if not rows:
            return
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
        # One flush of an appender on an autocommit connection is ONE transaction, committed
        # (WAL synced) when flush returns, and atomic: a duplicate key anywhere refuses it all.
        # That holds up to 204,800 rows (DuckDB's appender flush_count); batches are capped at
        # 100,000 by the settings.
        try:
            self.appender.append_rows(values)
            self.appender.flush()
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self.appender.clear()  # else the next flush would try these rows again
            raise
        self.last_seq = first + len(rows) - 1

    # --- reads -------------------------------------------------------------------------------
    def read_feed(self, after: int, limit: int, max_bytes: int) -> list[tuple]:
        """Rows with seq > after in seq order: at most ``limit`` rows or about ``max_bytes``."""
        sizes = self.conn.execute(
            "SELECT seq, octet_length(body) FROM raw_events WHERE seq > ? ORDER BY seq LIMIT ?",
            [after, limit],
        ).fetchall()
        total, until = 0, None
        for seq, size in sizes:
            total += size + FEED_ROW_OVERHEAD
            if until is not None and total > max_bytes:
                break
            until = seq
        if until is None:
            return []
        return self.conn.execute(
            f"SELECT {FEED_COLUMNS} FROM raw_events WHERE seq > ? AND seq <= ? ORDER BY seq",
            [after, until],
        ).fetchall()

    def oldest_unfed_age(self, fed_seq: int) -> float:
        # (the store asks only while fed_seq < last_seq; otherwise no row comes back: 0)
        # fetchall, not fetchone: an unfinished result would block the next flush (DuckDB 2)
        rows = self.conn.execute(
            "SELECT received_at FROM raw_events WHERE seq > ? ORDER BY seq LIMIT 1", [fed_seq]
        ).fetchall()
        if not rows:
            return 0.0
        return max(0.0, (datetime.now(UTC) - rows[0][0]).total_seconds())


def tally(landed: list[LandingRow | None]) -> tuple[int, int, int]:
    """How many landed rows are unparseable, of an unknown type, and test events."""
    rows = [row for row in landed if row is not None]
    return (
        sum(not row.is_parseable for row in rows),
        sum(row.is_parseable and not row.is_known_type for row in rows),
        sum(row.is_test for row in rows),
    )


def answer(writer: LandingWriter, message: tuple) -> tuple:
    kind = message[0]
    if kind == "feed":
        return ("rows", writer.read_feed(*message[1:]))
    if kind == "oldest":
        return ("age", writer.oldest_unfed_age(message[1]))
    raise ValueError(f"unknown request {kind!r}")


def next_requests(frames: wire.FrameReader) -> list[tuple]:
    """The next request, and when it is a batch to land, the batches that arrived behind it
    (up to MERGE_MAX_EVENTS): they commit together. Group commit continues here: while one
    transaction commits, the receiver keeps sending, and the writer takes all of it next."""
    requests = [frames.next()]
    if requests[0][0] != "land":
        return requests
    events = len(requests[0][1])
    while events < MERGE_MAX_EVENTS and (request := frames.ready()) is not None:
        requests.append(request)
        if request[0] != "land":
            break  # served after the batches before it
        events += len(request[1])
    return requests


def answer_all(writer: LandingWriter, requests: list[tuple]) -> list[tuple]:
    batches = [request[1] for request in requests if request[0] == "land"]
    answers = writer.land_requests(batches) if batches else []
    return answers + [answer(writer, request) for request in requests[len(batches) :]]


def serve(sock: socket.socket, writer: LandingWriter) -> int:
    frames = wire.FrameReader(sock)
    while True:
        try:
            requests = next_requests(frames)
        except (wire.WriterGone, OSError):
            return 0  # the receiver closed its end: stopping (or gone)
        try:
            answers = answer_all(writer, requests)
        except Exception as exc:
            log.exception("landing writer failed; exiting so that a fresh one reopens the file")
            with contextlib.suppress(OSError):
                wire.send(sock, ("failed", f"{type(exc).__name__}: {exc}"))
            return 1
        try:
            sock.sendall(b"".join(wire.encode(a) for a in answers))
        except OSError:
            return 0  # the receiver is gone; it answered nobody for these batches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The receiver's DuckDB writer (started by it).")
    parser.add_argument("--fd", type=int, required=True, help="socket to the receiver")
    parser.add_argument("--path", required=True, help="landing.duckdb")
    parser.add_argument("--memory-ceiling-mb", type=int, default=2048)
    parser.add_argument("--recent-ids", type=int, default=100_000)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    # The receiver stops us by closing the socket, after it has committed what is queued.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sock = socket.socket(fileno=args.fd)
    try:
        writer = LandingWriter(
            args.path, memory_ceiling_mb=args.memory_ceiling_mb, recent_ids=args.recent_ids
        )
    except Refused as exc:
        with contextlib.suppress(OSError):
            wire.send(sock, ("refused", exc.kind, str(exc)))
        return 2
    gc.freeze()  # start-up objects (modules, recent ids) are never garbage: skip them in GC
    try:
        wire.send(sock, ("ready", writer.last_seq))
        return serve(sock, writer)
    except OSError:
        return 0
    finally:
        writer.close()


if __name__ == "__main__":
    sys.exit(main())
