"""Two CPU processes (gloo on 127.0.0.1) follow the single-process run with the same global batch."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

from cnnlab.runs import RunDir  # noqa: E402
from cnnlab.torch_backend.ddp import parse_args, spawn  # noqa: E402
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
    assert two.config["world_size"] == 2 and one.config["world_size"] == 1
    assert sorted(p.name for p in two.path.iterdir()) == sorted(p.name for p in one.path.iterdir())
    m1, m2 = one.metrics(), two.metrics()
    assert len(m1) == len(m2) == 2
    for r1, r2 in zip(m1, m2, strict=True):
        for col in ("train_loss", "val_loss"):
            assert r2[col] == pytest.approx(r1[col], rel=1e-4)
        for col in ("train_acc", "val_acc", "lr"):
            assert r2[col] == pytest.approx(r1[col], abs=1e-9)
    w1 = torch.load(one.checkpoint("last"), weights_only=True)["model"]
    w2 = torch.load(two.checkpoint("last"), weights_only=True)["model"]
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=1e-5)


def test_command_line_of_the_ddp_entry_point():
    s = parse_args(
        ["--recipe", "lab", "--epochs", "3", "--batch-size", "64", "--out", "x", "--device", "cpu"]
    )
    assert s.backend == "torch" and s.recipe.name == "lab" and s.recipe.epochs == 3
    assert s.recipe.batch_size == 64 and str(s.out) == "x" and s.device == "cpu"
    assert s.recipe.lr == 1e-3  # the lab's, untouched
