"""Helpers for testing the installed ``cnnlab`` command as a user would: in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

#: The console script installed next to the interpreter running the tests (``.venv/bin/cnnlab``).
CNNLAB = Path(sys.executable).parent / "cnnlab"


def cnnlab(
    *args: str | os.PathLike,
    timeout: float = 120,
    env: dict | None = None,
    cwd: str | os.PathLike | None = None,
) -> subprocess.CompletedProcess:
    """Run ``cnnlab ARGS...`` and return the finished process (text stdout/stderr)."""
    if not CNNLAB.exists():
        pytest.fail(f"{CNNLAB} is not installed (pip install -e '.[dev]')")
    return subprocess.run(
        [str(CNNLAB), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *expected: str) -> str:
    """A failed command: non-zero exit, exactly one line on stderr, no traceback, the ``expected`` words."""
    err = proc.stderr
    assert proc.returncode != 0, f"exit 0; stdout={proc.stdout!r}"
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, f"not one line:\n{err}"
    for text in expected:
        assert text in err, f"{text!r} not in {err!r}"
    return err.strip()


def make_image_folder(root: Path, n_train: int = 24, n_test: int = 8, size: int = 16, seed: int = 0) -> Path:
    """A two-class image folder ``root/{train,test}/{dark,light}/*.png`` an untrained model can learn fast:
    ``dark`` images have pixels around 60, ``light`` ones around 190, with noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        for name, level in (("dark", 60), ("light", 190)):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = np.clip(rng.normal(level, 35, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{name}_{i:03d}.png")
    return root
