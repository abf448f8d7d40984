"""Shared fixtures. Every test gets its own cnnlab cache directory, so no test reads a stale cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
