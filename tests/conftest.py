"""Shared fixtures. Every test gets its own cnnlab cache directory, so no test reads a stale cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# One BLAS thread per test process: `pytest -n 2` already runs one process per core, and OpenBLAS threads
# that wait on a busy core slow small matrix products by orders of magnitude (cnnlab.nn's tests ran 2.2x
# longer without this). Set before NumPy loads OpenBLAS; the xdist workers inherit it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cats-and-dogs"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CNNLAB_CACHE", str(tmp_path_factory.getbasetemp() / "cnnlab-cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")


@pytest.fixture
def real_data() -> Path:
    """The lab's Kaggle photos beside the project; skips with a reason when they are absent."""
    root = Path(os.environ.get("CNNLAB_REAL_DATA", REAL_DATA))
    if not (root / "train").is_dir():
        pytest.skip(f"the Kaggle cats-and-dogs photos are not at {root} (set CNNLAB_REAL_DATA)")
    return root
