"""Keep notebooks source-only in git: no outputs, no execution counts, no run metadata.

    uv run --frozen python -m tests.notebooks.strip            # strip notebooks/*.ipynb in place
    uv run --frozen python -m tests.notebooks.strip --check    # exit 1 and list what is left

(With the ``notebooks`` group, ``jupyter nbconvert --clear-output --inplace notebooks/*.ipynb``
does the outputs part too.) Outputs hold data from someone's warehouse and churn on every run,
so they stay out of the history; ``tests/notebooks/test_source.py`` enforces it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
# Written by papermill, widgets and JupyterLab's execution timing: run state, not source.
RUN_METADATA = ("papermill", "widgets")
CELL_RUN_METADATA = ("execution", "papermill")


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """What keeps ``nb`` from being stripped, one line per cell or key (empty: clean)."""
    found = [f"notebook metadata {key!r}" for key in RUN_METADATA if key in nb.metadata]
    for index, cell in enumerate(nb.cells):
        where = f"cell {index} ({cell.get('id', '?')})"
        if cell.cell_type == "code":
            if cell.get("outputs"):
                found.append(f"{where}: {len(cell.outputs)} outputs")
            if cell.get("execution_count") is not None:
                found.append(f"{where}: execution_count {cell.execution_count}")
        found += [f"{where}: metadata {key!r}" for key in CELL_RUN_METADATA if key in cell.metadata]
    return found


def strip(nb: nbformat.NotebookNode) -> None:
    for key in RUN_METADATA:
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in CELL_RUN_METADATA:
            cell.metadata.pop(key, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--check", action="store_true", help="only report, change nothing")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(NOTEBOOKS.glob("*.ipynb"))
    dirty = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        found = problems(nb)
        if not found:
            continue
        dirty += 1
        if args.check:
            print(f"{path}: not stripped: " + "; ".join(found))
        else:
            strip(nb)
            nbformat.write(nb, path)
            print(f"{path}: stripped")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
