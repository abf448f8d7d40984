"""Moved to :mod:`cnnlab.rundir` (the floor every writer stands on); kept so old imports still work."""

from cnnlab.rundir import (  # noqa: F401
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
