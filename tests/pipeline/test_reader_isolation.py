"""An analyst holding ``analytics.duckdb`` open read-only in another process never blocks a run.

DuckDB lets no process open a file read-write while another holds it (even read-only), so the
pipeline publishes a fresh copy and swaps it in with ``os.replace``: the reader keeps the old
inode (its consistent snapshot), the run never touches the reader's file.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.pipeline.stack import running_stack

pytestmark = pytest.mark.timeout(240)

# Opens the snapshot once, answers "count" requests on the same connection until "quit".
READER = textwrap.dedent(
    """
    import sys, duckdb
    conn = duckdb.connect(sys.argv[1], read_only=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        rows = conn.execute("SELECT count(*) FROM submissions").fetchall()
        print(rows[0][0], flush=True)
    conn.close()
    """
)


def ask(reader: subprocess.Popen) -> int:
    reader.stdin.write("count\n")
    reader.stdin.flush()
    line = reader.stdout.readline()
    assert line, f"reader died: {reader.stderr.read()}"
    return int(line)


def test_a_reader_in_another_process_keeps_its_snapshot_while_runs_publish(tmp_path):
    with running_stack(tmp_path, failure_rate=0.0, seed=41) as stack:
        first = stack.drive(3)
        stack.drain()
        analytics = stack.data_dir / "analytics.duckdb"
        inode = analytics.stat().st_ino
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, str(analytics)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert ask(reader) == len(first)  # the reader holds the file open from here on

            second = stack.drive(4)
            ticks = stack.drain()
            (run,) = ticks[0].runs
            assert run.success
            assert analytics.stat().st_ino != inode  # a new file was swapped in
            with stack.analytics() as conn:
                published = conn.execute("SELECT count(*) FROM submissions").fetchall()[0][0]
            assert published == len(first) + len(second)
            assert ask(reader) == len(first)  # still its own, consistent snapshot
        finally:
            if reader.poll() is None:
                reader.stdin.write("quit\n")
                reader.stdin.flush()
            assert reader.wait(timeout=30) == 0, reader.stderr.read()
