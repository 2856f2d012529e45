"""mmq.analytics: read-only, a clear error before the first publish, the file released on close."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from mmq.analytics import Analytics, AnalyticsNotFound, analytics_path, connect
from mmq.warehouse.publish import publish_copy

pytestmark = pytest.mark.timeout(60)

# Another process opening the file read-write, as the pipeline would open its own warehouse.
WRITER = """
import sys, duckdb
conn = duckdb.connect(sys.argv[1])
conn.execute("CREATE TABLE IF NOT EXISTS probe (x INTEGER)")
conn.close()
"""


@pytest.fixture
def analytics_copy(sample_warehouse, tmp_path) -> Path:
    """A private copy: these tests try to write, and the session's sample must stay pristine."""
    target = tmp_path / "data" / "analytics.duckdb"
    target.parent.mkdir()
    shutil.copyfile(sample_warehouse.analytics_path, target)
    return target


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_from_another_process(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WRITER, str(path)], capture_output=True, text=True, timeout=60
    )


def test_query_returns_a_fully_fetched_dataframe(sample_warehouse):
    with connect(sample_warehouse.analytics_path) as db:
        counts = db.query("SELECT verdict, count(*) AS n FROM submission_quality GROUP BY ALL")
        # A second query on the same connection while the first frame is held: nothing streams.
        ids = db.query("SELECT submission_id FROM submissions ORDER BY submission_id")
        positional = db.query("SELECT count(*) AS n FROM issues WHERE severity = ?", ["MAJOR"])
        named = db.query("SELECT count(*) AS n FROM issues WHERE severity = $s", {"s": "MAJOR"})
    assert isinstance(counts, pd.DataFrame)
    assert counts.n.sum() == len(sample_warehouse.submission_ids)
    assert sorted(ids.submission_id) == sorted(sample_warehouse.submission_ids)
    truth = sum(
        asset["severity_counts"].get("MAJOR", 0)
        for sub in sample_warehouse.ground_truth["submissions"].values()
        for asset in sub["assets"].values()
    )
    assert positional.n.iloc[0] == named.n.iloc[0] == truth > 0


def test_timestamps_come_back_in_utc(sample_warehouse):
    with connect(sample_warehouse.analytics_path) as db:
        created = db.query("SELECT created_at FROM submissions LIMIT 1").created_at
    assert str(created.dt.tz) in ("UTC", "Etc/UTC")


def test_writes_are_refused_and_the_file_is_unchanged(analytics_copy):
    before = digest(analytics_copy)
    with connect(analytics_copy) as db:
        for statement in (
            "CREATE TABLE notes (x INTEGER)",
            "DELETE FROM submission_quality",
            "UPDATE submissions SET status = 'failed'",
        ):
            with pytest.raises(duckdb.Error, match="read-only"):
                db.query(statement)
        assert db.query("SELECT count(*) AS n FROM submission_quality").n.iloc[0] > 0
    assert digest(analytics_copy) == before


def test_a_missing_file_says_to_run_the_pipeline_first(tmp_path, monkeypatch):
    monkeypatch.setenv("MMQ_DATA_DIR", str(tmp_path / "nowhere"))
    expected = tmp_path / "nowhere" / "analytics.duckdb"
    with pytest.raises(AnalyticsNotFound) as caught:
        connect()
    message = str(caught.value)
    assert message.startswith("run `make demo` (or the pipeline) first: ")
    assert f"{expected} not found" in message
    assert isinstance(caught.value, FileNotFoundError)
    assert not expected.parent.exists()  # nothing was created on the way

    with pytest.raises(AnalyticsNotFound, match=r"first: .*elsewhere\.duckdb not found"):
        connect(tmp_path / "elsewhere.duckdb")


def test_close_releases_the_file_for_a_writer(analytics_copy):
    db = connect(analytics_copy)
    held = write_from_another_process(analytics_copy)
    assert held.returncode != 0 and "lock" in held.stderr.lower(), held.stderr

    db.close()
    assert db.closed
    released = write_from_another_process(analytics_copy)
    assert released.returncode == 0, released.stderr
    with pytest.raises(RuntimeError, match="closed"):
        db.query("SELECT 1")
    db.close()  # idempotent


def test_the_context_manager_releases_the_file_when_the_body_raises(analytics_copy):
    with pytest.raises(duckdb.Error), connect(analytics_copy) as db:
        db.query("SELECT * FROM no_such_table")
    assert db.closed
    assert write_from_another_process(analytics_copy).returncode == 0


NEW_READER = (
    "import sys, duckdb; c = duckdb.connect(sys.argv[1], read_only=True); "
    "print(c.execute(sys.argv[2]).fetchone()[0])"
)


def test_an_open_connection_keeps_its_snapshot_while_the_pipeline_publishes(
    sample_warehouse, tmp_path
):
    target = tmp_path / "analytics.duckdb"
    shutil.copyfile(sample_warehouse.analytics_path, target)
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(sample_warehouse.warehouse_path, warehouse)
    count = "SELECT count(*) AS n FROM submission_quality"
    with connect(target) as old:
        before = old.query(count).n.iloc[0]
        conn = duckdb.connect(str(warehouse))
        try:
            # the sample always has several submissions: drop the best-scoring one
            conn.execute(
                "DELETE FROM submission_quality WHERE submission_id = "
                "(SELECT max_by(submission_id, score) FROM submission_quality)"
            )
            publish_copy(conn, target)  # the real publish: never blocked by the open reader
        finally:
            conn.close()
        assert old.query(count).n.iloc[0] == before  # still the snapshot it opened
        # DuckDB shares one instance per path within a process: a new reader is another process.
        after = int(
            subprocess.run(
                [sys.executable, "-c", NEW_READER, str(target), count],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    assert 0 < after < before


def test_a_relative_data_dir_is_found_from_the_notebooks_folder(analytics_copy, monkeypatch):
    # Jupyter runs kernels in notebooks/, the pipeline resolves ./data from the project root.
    root = analytics_copy.parent.parent
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "notebooks").mkdir()
    monkeypatch.chdir(root / "notebooks")
    monkeypatch.delenv("MMQ_DATA_DIR", raising=False)
    assert analytics_path() == root / "data" / "analytics.duckdb"
    with connect() as db:
        assert db.path == analytics_copy
        assert repr(db) == f"Analytics({str(analytics_copy)!r})"
    assert repr(db).endswith(", closed)")

    # A data dir in the current directory wins, exactly as the settings say.
    local = root / "notebooks" / "data"
    local.mkdir()
    shutil.copyfile(analytics_copy, local / "analytics.duckdb")
    with Analytics() as db:
        assert db.path == local / "analytics.duckdb"
