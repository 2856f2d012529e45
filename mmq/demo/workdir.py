"""Where a demo keeps its files, and how a re-run starts from a clean slate.

Every demo starts fresh: the simulator keeps its state in memory, so the previous run's
submissions, subscription and secrets are gone anyway. Only directories a demo created
(they hold a ``.mmq-demo`` marker) are ever emptied; anything else is left alone.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import mmq
from mmq.demo.services import DemoError

MARKER = ".mmq-demo"
PROJECT_ROOT = Path(mmq.__file__).resolve().parents[1]
INSTANCE_TEMPLATE = PROJECT_ROOT / "dagster.yaml"
FALLBACK_INSTANCE = "telemetry:\n  enabled: false\n"
WORKSPACE = """\
load_from:
  - python_module:
      module_name: pipelines.definitions
      location_name: mmq
      working_directory: {root}
"""


@dataclass(frozen=True)
class DemoPaths:
    data_dir: Path
    dagster_home: Path

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"

    @property
    def reports(self) -> Path:
        return self.data_dir / "reports"

    @property
    def analytics(self) -> Path:
        return self.data_dir / "analytics.duckdb"

    @property
    def workspace(self) -> Path:
        return self.dagster_home / "workspace.yaml"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def prepare(self) -> None:
        """Empty both directories (if a demo made them) and write the Dagster instance files."""
        directories = (self.data_dir, self.dagster_home)
        for directory in directories:  # check both before emptying either
            _check_ours(directory)
        for directory in directories:
            _reset(directory)
        template = INSTANCE_TEMPLATE.read_text() if INSTANCE_TEMPLATE.is_file() else None
        (self.dagster_home / "dagster.yaml").write_text(template or FALLBACK_INSTANCE)
        self.workspace.write_text(WORKSPACE.format(root=PROJECT_ROOT))
        self.logs.mkdir(parents=True, exist_ok=True)


def _check_ours(directory: Path) -> None:
    if not directory.exists():
        return
    if not directory.is_dir():
        raise DemoError(f"{directory} exists and is not a directory")
    if any(directory.iterdir()) and not (directory / MARKER).exists():
        raise DemoError(
            f"{directory} holds data that no demo wrote; remove it or choose another "
            "directory (--data-dir / --dagster-home)"
        )


def _reset(directory: Path) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / MARKER).write_text("created by `mmq demo`; emptied by the next demo run\n")
