"""Every notebook run of the session, executed once and in parallel (kernel start-up dominates)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pytest

from mmq.warehouse.schema import create_all
from tests.notebooks.execute import Job, Result, run_notebooks

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


@dataclass
class Runs:
    overview: Result
    drilldown: Result  # default parameters: the lowest-scoring submission
    drilldown_injected: Result
    drilldown_unknown: Result
    health: Result
    empty: dict[str, Result]  # notebook file name -> run on a schema-only warehouse
    injected_id: str


@pytest.fixture(scope="session")
def empty_warehouse(tmp_path_factory):
    """A data dir whose analytics.duckdb has every table and no rows: a pipeline that ran on
    nothing yet."""
    data_dir = tmp_path_factory.mktemp("empty-warehouse")
    conn = duckdb.connect(str(data_dir / "analytics.duckdb"))
    try:
        create_all(conn)
    finally:
        conn.close()
    return data_dir


def pick_injected(sample) -> str:
    """A submission other than the default pick, with failures if any: more sections to show."""
    conn = duckdb.connect(str(sample.analytics_path), read_only=True)
    try:
        (submission_id,) = conn.execute(
            "SELECT submission_id FROM submission_quality "
            "WHERE score > (SELECT min(score) FROM submission_quality) "
            "ORDER BY assets_failed DESC, issue_count DESC, submission_id LIMIT 1"
        ).fetchall()[0]
    finally:
        conn.close()
    return submission_id


@pytest.fixture(scope="session")
def runs(sample_warehouse, empty_warehouse) -> Runs:
    data = sample_warehouse.data_dir
    injected = pick_injected(sample_warehouse)
    names = ["quality_overview.ipynb", "submission_drilldown.ipynb", "pipeline_health.ipynb"]
    jobs = [
        Job("quality_overview.ipynb", data),
        Job("submission_drilldown.ipynb", data),
        Job("submission_drilldown.ipynb", data, {"submission_id": injected}),
        Job("submission_drilldown.ipynb", data, {"submission_id": UNKNOWN_ID}),
        Job("pipeline_health.ipynb", data),
        *(Job(name, empty_warehouse) for name in names),
    ]
    results = run_notebooks(jobs)
    overview, drilldown, injected_run, unknown, health, *empty = results
    return Runs(
        overview=overview,
        drilldown=drilldown,
        drilldown_injected=injected_run,
        drilldown_unknown=unknown,
        health=health,
        empty=dict(zip(names, empty, strict=True)),
        injected_id=injected,
    )
