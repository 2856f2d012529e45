"""The committed notebooks as files: source only (no outputs), a papermill parameters cell."""

from __future__ import annotations

import shutil

import nbformat
import papermill
import pytest

from tests.notebooks import strip
from tests.notebooks.execute import NOTEBOOKS

NAMES = ["quality_overview.ipynb", "submission_drilldown.ipynb", "pipeline_health.ipynb"]
HOW_TO_STRIP = (
    "strip them before committing: `uv run --frozen python -m tests.notebooks.strip` "
    "(or `jupyter nbconvert --clear-output --inplace notebooks/*.ipynb`)"
)


def test_the_three_notebooks_are_there():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_carry_no_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert strip.problems(nb) == [], f"{name} has outputs or run state; {HOW_TO_STRIP}"


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_use_the_python3_kernel_and_the_read_only_helper(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "from mmq.analytics import connect" in code
    assert "duckdb.connect" not in code  # every read goes through the read-only helper
    assert "db.close()" in nb.cells[-1].source


def test_the_drilldown_has_a_papermill_parameters_cell():
    params = papermill.inspect_notebook(str(NOTEBOOKS / "submission_drilldown.ipynb"))
    assert params["submission_id"]["default"] == "None"
    nb = nbformat.read(NOTEBOOKS / "submission_drilldown.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"


def test_the_strip_helper_cleans_an_executed_notebook(tmp_path, capsys):
    path = tmp_path / "run.ipynb"
    shutil.copyfile(NOTEBOOKS / "submission_drilldown.ipynb", path)
    nb = nbformat.read(path, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="score 0/100\n")]
    code.execution_count = 3
    code.metadata["execution"] = {"iopub.status.idle": "2026-01-01T00:00:00Z"}
    nb.metadata["papermill"] = {"parameters": {"submission_id": "x"}}
    nbformat.write(nb, path)

    assert strip.main(["--check", str(path)]) == 1
    assert "not stripped" in capsys.readouterr().out
    assert strip.main([str(path)]) == 0
    assert strip.problems(nbformat.read(path, as_version=4)) == []
    assert strip.main(["--check", str(path)]) == 0
    # Only run state went: the source is what it was.
    original = nbformat.read(NOTEBOOKS / "submission_drilldown.ipynb", as_version=4)
    assert [c.source for c in nbformat.read(path, as_version=4).cells] == [
        c.source for c in original.cells
    ]
