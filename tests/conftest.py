"""Fixtures shared across test areas (each area keeps its own in tests/<area>/conftest.py)."""

from __future__ import annotations

import pytest

from tests.sample import Sample, build_sample


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory) -> Sample:
    """A real warehouse + analytics snapshot built once per session from the simulator.

    Read it, never write it: copy the files first if a test needs to change them.
    """
    return build_sample(tmp_path_factory.mktemp("sample"))
