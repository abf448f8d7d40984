"""The run directory both trainers write (config, metrics, checkpoints) and the report made from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnlab.rundir import (
    CONFIG,
    METRIC_COLUMNS,
    METRICS,
    TEST_METRICS,
    RunDir,
    atomic_open,
    atomic_save,
    atomic_write_bytes,
    atomic_write_text,
    write_json,
)


def finish_run(run: RunDir | str | Path, dataset: Any = None, **kwargs: Any) -> Path:
    """Evaluate ``run`` on its test split and write summary.txt, the plots and report.html.

    See :func:`cnnlab.runs.report.finish_run` (imported lazily: it needs matplotlib).
    """
    from cnnlab.runs.report import finish_run as _finish_run

    return _finish_run(run, dataset, **kwargs)


def evaluate_run(run: RunDir | str | Path, dataset: Any = None, **kwargs: Any) -> Any:
    """See :func:`cnnlab.runs.evaluate.evaluate_run`."""
    from cnnlab.runs.evaluate import evaluate_run as _evaluate_run

    return _evaluate_run(run, dataset, **kwargs)


__all__ = [
    "CONFIG",
    "METRICS",
    "METRIC_COLUMNS",
    "TEST_METRICS",
    "RunDir",
    "atomic_open",
    "atomic_save",
    "atomic_write_bytes",
    "atomic_write_text",
    "evaluate_run",
    "finish_run",
    "write_json",
]
