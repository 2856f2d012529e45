"""The landing store's writer: the one process that has ``landing.duckdb`` open.

The receiver (``receiver.store``) starts it as a child process and talks to it over a private
socketpair (``receiver.wire``): land a batch, read a feed page, tell the age of the oldest unfed
event. Requests are answered in the order they came; batches that arrived together are landed
together. Keeping DuckDB in its own process keeps it off the receiver's
GIL: an appender flush and its fsync run here, in parallel with the HTTP event loop, instead of
taking turns with it (in one process every commit waited for the loop to hand the GIL back).

Parsing, deduplication and the commit all happen here, so the event loop only verifies and
forwards. A batch is landed in ONE transaction; the reply goes back only after the flush
returned, when DuckDB has synced its write-ahead log. ``seq`` is assigned here, by the only
writer, so it is dense (1, 2, 3, …) and commits in order.

Deduplication is exact and kept forever (``receiver.seen``): the latest ids are kept as
strings, every landed id as an 8-byte digest, and a digest match on an older id is confirmed
against the table before the event is called a duplicate. ``event_id`` is unique because this
is the only writer of the table and nothing is appended without that check.

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
from receiver.seen import SeenIds

log = logging.getLogger("receiver.writer")

DDL = """
CREATE TABLE IF NOT EXISTS raw_events (
    seq BIGINT NOT NULL,
    event_id VARCHAR NOT NULL,
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


class Refused(RuntimeError):
    """The database cannot be opened; ``kind`` is ``locked`` or ``error``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class LandingWriter:
    def __init__(self, path: str, *, memory_limit_mb: int, recent_ids: int) -> None:
        self.path = path
        self.conn = self._connect(memory_limit_mb * 2**20)
        try:
            # Timestamps come back as Python datetimes in the session's zone; in UTC every
            # stored instant converts (year 1 in New York does not, and DuckDB hands back a str).
            self.conn.execute("SET TimeZone = 'UTC'")
            self.conn.execute(DDL)
            self.last_seq = self.conn.execute(
                "SELECT coalesce(max(seq), 0) FROM raw_events"
            ).fetchall()[0][0]
            landed = self.conn.execute(
                "SELECT md5_number_upper(event_id) AS digest, seq FROM raw_events"
            ).fetchnumpy()
            recent = self.conn.execute(
                "SELECT event_id FROM raw_events ORDER BY seq DESC LIMIT ?", [recent_ids]
            ).fetchall()
        except duckdb.Error as exc:
            self.conn.close()
            raise Refused("error", f"cannot read {path}: {exc}") from None
        recent_keys = [key for (key,) in reversed(recent)]
        self.seen = SeenIds(landed["digest"], landed["seq"], recent_keys, recent_ids)
        # One appender for the life of the connection: creating one costs ~0.4 ms, as much as
        # landing 30 rows. Each flush is its own transaction.
        self.appender = self.conn.appender("raw_events")

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
        parsed = [landing_row(*item) for item in items]
        event_ids = [row.event_id for row in parsed]
        known, candidates = self.seen.candidates(event_ids)
        older = self._landed_before(candidates)
        landed: list[LandingRow | None] = []
        rows: list[LandingRow] = []
        in_batch: set[str] = set()  # the same event twice in this batch (concurrent retries)
        for row, sure in zip(parsed, known, strict=True):
            key = row.event_id
            if sure or key in older or key in in_batch:
                landed.append(None)
            else:
                in_batch.add(key)
                landed.append(row)
                rows.append(row)
        first_seq = self.last_seq + 1
        self._append(rows)
        self.seen.add([row.event_id for row in rows], first_seq)
        return event_ids, [row is not None for row in landed], landed

    def _landed_before(self, candidates: list[list[int]]) -> set[str]:
        """The ids of the rows at these seqs (their digests matched): retries of older events."""
        wanted = sorted({seq for seqs in candidates for seq in seqs})
        if not wanted:
            return set()
        # ~1 ms at 600,000 rows (row groups are skipped by their seq range); a scan of
        # event_id for the same answer took 22 ms, and grows with the table
        rows = self.conn.execute("SELECT event_id FROM raw_events WHERE seq = ANY(?)", [wanted])
        return {key for (key,) in rows.fetchall()}

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
        # (WAL synced) when flush returns, and atomic: a failure anywhere lands none of it.
        # That holds up to 204,800 rows (DuckDB's appender flush_count); a commit is at most
        # 110,000 (a 100,000-event batch, the settings' cap, plus MERGE_MAX_EVENTS).
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
    parser.add_argument("--memory-limit-mb", type=int, required=True)
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
            args.path, memory_limit_mb=args.memory_limit_mb, recent_ids=args.recent_ids
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
