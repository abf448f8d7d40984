"""Where measured figures are recorded: the commit they were measured at, and the files the docs quote.

``make accuracy`` writes ``docs/figures.md`` / ``.json`` and ``make bench`` writes ``docs/bench.md`` /
``.json``; both stamp them with :func:`commit`, the short hash of the code that ran (with
``+uncommitted src changes`` when ``src/`` differed from it, the excluded paths aside).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

__all__ = ["TRAINING_UNRELATED", "commit", "required_photos", "training_commit"]

#: Code that takes no part in training: its edits do not move the accuracy figures.
TRAINING_UNRELATED = ("src/cnnlab/grading", "src/cnnlab/explore", "src/cnnlab/cli/grade.py")


def commit(root: Path, exclude: Sequence[str] = ()) -> str:
    """``git rev-parse --short HEAD`` of ``root``, marked when ``src/`` (less ``exclude``) has changes."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        paths = ["src", *(f":(exclude){p}" for p in exclude)]
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", *paths], cwd=root, capture_output=True, text=True
        )
        return sha + ("+uncommitted src changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def training_commit(root: Path) -> str:
    """:func:`commit`, unmarked by edits of code that takes no part in training (the grader, the explorer)."""
    return commit(root, TRAINING_UNRELATED)


def required_photos() -> Path | None:
    """The Kaggle photos a figure is measured on (:func:`cnnlab.bench.torch_train.real_photos`), or
    ``None`` after one line on stderr saying they are not here (``make accuracy``, ``make selection``)."""
    import sys

    from cnnlab.bench.torch_train import real_photos

    data = real_photos()
    if data is None:
        print("the Kaggle photos are not here (set CNNLAB_REAL_DATA); nothing measured", file=sys.stderr)
    return data
