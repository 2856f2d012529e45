"""Run notebooks on fresh kernels of this venv, several at once, as Jupyter would.

Kernel start-up dominates a notebook test (a few seconds each on this box), so every run of a
session is started together and awaited in one event loop: the kernels are separate processes
and overlap. Each run gets its own environment (``MMQ_DATA_DIR``) through ``start_kernel(env=)``
rather than ``os.environ``, which threads would share.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@dataclass
class Job:
    notebook: str  # file name under notebooks/
    data_dir: Path
    parameters: dict = field(default_factory=dict)


@dataclass
class Result:
    job: Job
    nb: nbformat.NotebookNode | None
    error: BaseException | None

    def check(self) -> nbformat.NotebookNode:
        """The executed notebook, or the failure (with the cell's traceback) re-raised."""
        if self.error is not None:
            raise self.error
        assert self.nb is not None
        return self.nb


def kernel_manager() -> AsyncKernelManager:
    # No kernel directories: `python3` then resolves to ipykernel's own spec, whose argv is this
    # very interpreter (sys.executable), whatever kernels the user has installed elsewhere.
    specs = KernelSpecManager(kernel_dirs=[])
    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs)


async def _run(job: Job, timeout: float) -> Result:
    if job.parameters:
        # papermill's own reading and injection: a cell tagged `injected-parameters` follows
        # the cell tagged `parameters`, as `papermill -p` does.
        nb = parameterize_notebook(
            load_notebook_node(str(NOTEBOOKS / job.notebook)), job.parameters
        )
    else:
        nb = nbformat.read(NOTEBOOKS / job.notebook, as_version=4)
    env = {**os.environ, "MMQ_DATA_DIR": str(job.data_dir)}
    km = kernel_manager()
    client = NotebookClient(
        nb,
        km=km,
        timeout=timeout,
        startup_timeout=timeout,
        # The kernel starts in notebooks/ as under JupyterLab.
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    try:
        await client.async_execute(env=env)
    except BaseException as error:
        return Result(job, None, error)
    finally:
        # nbclient only shuts down kernels it created itself; this one is ours.
        if km.has_kernel:
            await km.shutdown_kernel(now=True)
    return Result(job, nb, None)


def run_notebooks(jobs: list[Job], timeout: float = 60) -> list[Result]:
    async def run_all() -> list[Result]:
        return list(await asyncio.gather(*(_run(job, timeout) for job in jobs)))

    return asyncio.run(run_all())


def outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def stdout(nb: nbformat.NotebookNode) -> str:
    return "".join(
        out["text"]
        for out in outputs(nb)
        if out["output_type"] == "stream" and out["name"] == "stdout"
    )
