"""A re-run starts afresh in directories a demo made, and never empties anyone else's."""

from __future__ import annotations

import pytest
import yaml

from mmq.demo.services import DemoError
from mmq.demo.workdir import MARKER, PROJECT_ROOT, DemoPaths


def test_prepare_writes_the_instance_files_and_marks_both_directories(tmp_path):
    paths = DemoPaths(tmp_path / "data", tmp_path / "home")
    paths.prepare()
    assert (paths.data_dir / MARKER).is_file() and (paths.dagster_home / MARKER).is_file()
    assert paths.logs.is_dir()
    instance = yaml.safe_load((paths.dagster_home / "dagster.yaml").read_text())
    assert instance["telemetry"] == {"enabled": False}
    (location,) = yaml.safe_load(paths.workspace.read_text())["load_from"]
    assert location["python_module"]["module_name"] == "pipelines.definitions"
    assert location["python_module"]["working_directory"] == str(PROJECT_ROOT)


def test_a_rerun_empties_what_the_previous_demo_left(tmp_path):
    paths = DemoPaths(tmp_path / "data", tmp_path / "home")
    paths.prepare()
    stale = [paths.data_dir / "landing.duckdb", paths.reports / "old.html"]
    stale[1].parent.mkdir()
    for path in stale:
        path.write_text("from the last demo")
    paths.prepare()
    assert not any(path.exists() for path in stale)
    assert (paths.data_dir / MARKER).is_file()


def test_a_directory_no_demo_made_is_left_alone(tmp_path):
    mine = tmp_path / "home" / "runs.db"
    mine.parent.mkdir()
    mine.write_text("someone's instance")
    paths = DemoPaths(tmp_path / "data", tmp_path / "home")
    with pytest.raises(DemoError, match="holds data that no demo wrote"):
        paths.prepare()
    assert mine.read_text() == "someone's instance"
    assert not paths.data_dir.exists(), "nothing is touched when one directory is foreign"
