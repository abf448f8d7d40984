"""The run directory: atomic writes, metrics round trip, refusing what is not a run."""

from __future__ import annotations

import os
import stat

import pytest

from cnnlab.errors import RunDirError
from cnnlab.runs import RunDir, atomic_open


def test_atomic_open_keeps_the_old_file_when_the_write_fails(tmp_path):
    target = tmp_path / "best.npz"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_open(target) as fh:
        fh.write(b"half of the new")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["best.npz"]  # no temporary left behind


def test_files_get_the_usual_permissions_not_mkstemps_0600(tmp_path):
    run = RunDir.create(tmp_path / "run", {"backend": "numpy"})
    mode = stat.S_IMODE(os.stat(run / "config.json").st_mode)
    assert mode & stat.S_IRGRP and mode & stat.S_IROTH


def test_metrics_round_trip_keeps_epochs_integer_and_empty_cells_none(tmp_path):
    run = RunDir.create(tmp_path / "run", {"backend": "numpy"})
    run.append_metrics({"epoch": 1, "train_loss": 0.5, "train_acc": 1.0, "val_loss": None})
    run.append_metrics({"epoch": 2.0, "train_loss": 0.25})
    rows = run.metrics()
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(isinstance(r["epoch"], int) for r in rows)
    assert rows[0]["train_acc"] == 1.0 and isinstance(rows[0]["train_acc"], float)
    assert rows[0]["val_loss"] is None
    # A resumed run rewrites from its epoch on: rows of that epoch and later are replaced.
    run.append_metrics({"epoch": 2, "train_loss": 0.125})
    assert [r["train_loss"] for r in run.metrics()] == [0.5, 0.125]


def test_open_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(RunDirError, match="does not exist"):
        RunDir.open(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(RunDirError, match="not a cnnlab run directory"):
        RunDir.open(tmp_path / "plain")


def test_create_refuses_to_overwrite_unless_asked_and_never_a_foreign_folder(tmp_path):
    RunDir.create(tmp_path / "run", {"backend": "numpy"})
    with pytest.raises(RunDirError, match="--overwrite"):
        RunDir.create(tmp_path / "run", {"backend": "numpy"})
    RunDir.create(tmp_path / "run", {"backend": "torch"}, overwrite=True)
    assert RunDir.open(tmp_path / "run").config["backend"] == "torch"
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"x")
    with pytest.raises(RunDirError, match="refusing"):
        RunDir.create(foreign, {}, overwrite=True)
    assert (foreign / "cat.jpg").exists()
