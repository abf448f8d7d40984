"""Two CPU processes (gloo on 127.0.0.1) follow the single-process run with the same global batch."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

from cnnlab.runs import RunDir  # noqa: E402
from cnnlab.torch_backend.checkpoint import load_checkpoint  # noqa: E402
from cnnlab.torch_backend.spawn import spawn  # noqa: E402
from cnnlab.torch_backend.trainer import train  # noqa: E402

from .conftest import small_settings  # noqa: E402

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo")


@pytest.mark.slow
def test_two_processes_equal_one_with_the_same_global_batch(tmp_path):
    # A global batch of 27 splits 14/13 and the epoch's last batch (640 = 23*27 + 19) 10/9: the
    # per-rank loss scaling must make the averaged gradient the global-batch mean exactly.
    # Augmentation is on (every rank draws the augmentation of the whole global batch); dropout is
    # off because its masks are drawn per rank. Mixup blends the whole global batch before the split;
    # the weight average follows the (identical) weights on every rank.
    kw = dict(epochs=2, batch_size=27, augment=True, dropout=0.0, mixup=0.4, ema=0.9)
    one = train(small_settings(tmp_path / "one", **kw))
    spawn(small_settings(tmp_path / "two", **kw), nprocs=2)
    two = RunDir.open(tmp_path / "two")
    assert two.config["backend_info"]["processes"] == 2 and one.config["backend_info"]["processes"] == 1
    assert set(two.config) == set(one.config)
    assert sorted(p.name for p in two.path.iterdir()) == sorted(p.name for p in one.path.iterdir())
    m1, m2 = one.metrics(), two.metrics()
    assert len(m1) == len(m2) == 2
    for r1, r2 in zip(m1, m2, strict=True):
        for col in ("train_loss", "val_loss"):
            assert r2[col] == pytest.approx(r1[col], rel=1e-4)
        for col in ("train_acc", "val_acc", "lr"):
            assert r2[col] == pytest.approx(r1[col], abs=1e-9)
    w1 = load_checkpoint(one.checkpoint("last"))[0]["model"]
    w2 = load_checkpoint(two.checkpoint("last"))[0]["model"]
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_torchrun_runs_the_one_train_command_with_the_same_run_directory_and_report(tmp_path):
    """DDP is ``torchrun ... -m cnnlab train --backend torch``: same options, run directory and report."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun is not installed beside this Python")
    common = ["--backend", "torch", "--model", "simple", "--epochs", "2", "--val-fraction", "0.2"]
    common += ["--batch-size", "64", "--threads", "1", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "cnnlab", "train", *common,
         "--out", str(tmp_path / "ddp")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("test accuracy") == 1  # rank 0 alone reports
    one = subprocess.run(
        [sys.executable, "-m", "cnnlab", "train", *common, "--out", str(tmp_path / "one")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    ddp, single = RunDir.open(tmp_path / "ddp"), RunDir.open(tmp_path / "one")
    assert ddp.config["backend_info"]["processes"] == 2
    assert set(ddp.config) == set(single.config)
    assert sorted(p.name for p in ddp.path.iterdir()) == sorted(p.name for p in single.path.iterdir())
    assert (ddp.path / "report.html").is_file() and ddp.test_metrics is not None
