"""The torch backend through the fit loop on the built-in dataset: run directory, determinism, devices.

Resume, stops, locks and the config schema are the contract of every backend: tests/training/.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cnnlab.data import load_dataset, train_val_split  # noqa: E402
from cnnlab.errors import CnnlabError, RunDirError, TrainingStopped  # noqa: E402
from cnnlab.runs import METRIC_COLUMNS, RunDir  # noqa: E402
from cnnlab.torch_backend import build_model  # noqa: E402
from cnnlab.torch_backend.checkpoint import load_checkpoint  # noqa: E402
from cnnlab.torch_backend.device import select_device  # noqa: E402
from cnnlab.torch_backend.distributed import shard  # noqa: E402
from cnnlab.torch_backend.trainer import train  # noqa: E402
from cnnlab.training import Callbacks  # noqa: E402

from .conftest import small_settings  # noqa: E402


def _weights(path):
    return load_checkpoint(path)[0]["model"]


def _state(path):
    return load_checkpoint(path)[0]


def test_run_directory_holds_config_metrics_and_checkpoints(trained_run):
    run = RunDir.open(trained_run.path)
    cfg = run.config
    assert cfg["backend"] == "torch" and cfg["model"] == "simple"
    assert cfg["classes"] == ["cats", "dogs"] and cfg["num_classes"] == 2 and cfg["image_size"] == 16
    assert cfg["backend_info"]["torch"] == torch.__version__
    assert cfg["recipe"]["seed"] == 7
    rows = run.metrics()
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert set(rows[0]) == set(METRIC_COLUMNS)
    assert all(0 <= r["val_acc"] <= 1 and r["train_loss"] > 0 for r in rows)
    for name in ("best.pt", "last.pt", "summary.txt"):
        assert (run.path / name).is_file()
    # best.pt loads with weights_only=True; its "model" is a state dict for the model
    raw = torch.load(run.checkpoint("best"), weights_only=True)
    assert set(raw) == {"format", "state", "meta"}
    best = _weights(run.checkpoint("best"))
    assert sorted(best) == ["0.bias", "0.weight", "5.bias", "5.weight"]  # Dropout at 4 shifts Linear to 5
    build_model("simple", dropout=0.2).load_state_dict(best)
    last, meta = load_checkpoint(run.checkpoint("last"))
    assert meta["epoch"] == 3 and {"optimizer", "rng", "model"} <= set(last)
    assert "Total params: 3,042" in (run.path / "summary.txt").read_text()


def test_best_checkpoint_is_the_epoch_with_the_best_validation_accuracy(trained_run):
    rows = trained_run.metrics()
    best_epoch = trained_run.config["best_epoch"]
    accs = [r["val_acc"] for r in rows]
    assert accs[best_epoch - 1] == max(accs)
    # and its recorded validation accuracy is reproduced by the saved weights (flip TTA, eval mode)
    cfg = trained_run.config
    ds = load_dataset(None, image_size=16)
    _, val_idx = train_val_split(ds.train.labels, cfg["recipe"]["val_fraction"], cfg["recipe"]["seed"])
    model = build_model("simple", dropout=0.2)
    model.load_state_dict(_weights(trained_run.checkpoint("best")))
    model.eval()
    x = torch.from_numpy(ds.train.images[val_idx]).permute(0, 3, 1, 2).double() / 255 * 2 - 1
    model.double()
    with torch.no_grad():
        p = (model(x).softmax(1) + model(x.flip(3)).softmax(1)) / 2
    acc = (p.argmax(1).numpy() == ds.train.labels[val_idx]).mean()
    assert acc == pytest.approx(accs[best_epoch - 1], abs=1.5 / len(val_idx))


def test_same_seed_same_run_and_another_seed_another(tmp_path):
    a = train(small_settings(tmp_path / "a", epochs=1))
    b = train(small_settings(tmp_path / "b", epochs=1))
    c = train(small_settings(tmp_path / "c", epochs=1, seed=8))
    wa, wb, wc = (_weights(r.checkpoint("last")) for r in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not torch.equal(wa["0.weight"], wc["0.weight"])
    assert a.metrics()[0]["train_loss"] == b.metrics()[0]["train_loss"]


class _StopAfter(Callbacks):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, row):
        if row["epoch"] == self.epoch:
            raise KeyboardInterrupt


def test_refuses_to_overwrite_and_to_resume_nothing(tmp_path, trained_run):
    with pytest.raises(RunDirError, match="already holds files"):
        train(small_settings(trained_run.path))
    s = small_settings(tmp_path / "none")
    s.resume = True
    with pytest.raises(RunDirError):
        train(s)


def test_bad_settings_are_named(tmp_path):
    with pytest.raises(CnnlabError, match="unknown optimizer 'lion'"):
        train(small_settings(tmp_path / "a", optimizer="lion"))
    with pytest.raises(CnnlabError, match="epochs and batch_size must be >= 1"):
        train(small_settings(tmp_path / "b", epochs=0))
    with pytest.raises(CnnlabError, match="unknown device"):
        select_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_a_missing_gpu_is_a_clear_error():
    with pytest.raises(CnnlabError, match="no usable CUDA GPU"):
        select_device("cuda")
    assert select_device("auto").type in ("cpu", "mps")


@pytest.mark.parametrize(("n", "world"), [(32, 2), (25, 2), (7, 3), (1, 2)])
def test_shard_partitions_a_global_batch(n, world):
    batch = np.random.default_rng(n).permutation(100)[:n]
    parts = [shard(batch, r, world) for r in range(world)]
    assert sorted(np.concatenate(parts).tolist()) == sorted(batch.tolist())
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_mixup_and_weight_average_resume_exactly_and_best_holds_the_average(tmp_path):
    kw = dict(epochs=3, mixup=0.4, ema=0.8, augment_scale=0.6)
    full = train(small_settings(tmp_path / "full", **kw))
    with pytest.raises(TrainingStopped, match="interrupted"):
        train(small_settings(tmp_path / "cut", **kw), _StopAfter(2))
    settings = small_settings(tmp_path / "cut", **kw)
    settings.resume = True
    resumed = train(settings)
    lf, lr_ = _state(full.checkpoint("last")), _state(resumed.checkpoint("last"))
    for part in ("model", "ema"):
        assert all(torch.equal(lf[part][k], lr_[part][k]) for k in lf[part])
    cols = ["train_loss", "train_acc", "val_loss", "val_acc"]
    assert [[r[c] for c in cols] for r in resumed.metrics()] == [[r[c] for c in cols] for r in full.metrics()]
    best = _weights(full.checkpoint("best"))
    assert not torch.equal(best["0.weight"], lf["model"]["0.weight"])
    # the average is what was validated: its accuracy is reproduced from best.pt
    ds = load_dataset(None, image_size=16)
    _, val_idx = train_val_split(ds.train.labels, 0.2, 7)
    model = build_model("simple")
    model.load_state_dict(best)
    model.eval()
    x = torch.from_numpy(ds.train.images[val_idx]).permute(0, 3, 1, 2).double() / 255 * 2 - 1
    model.double()
    with torch.no_grad():
        p = (model(x).softmax(1) + model(x.flip(3)).softmax(1)) / 2
    acc = (p.argmax(1).numpy() == ds.train.labels[val_idx]).mean()
    best_row = full.metrics()[full.config["best_epoch"] - 1]
    assert acc == pytest.approx(best_row["val_acc"], abs=1.5 / len(val_idx))


def test_without_a_validation_split_best_is_the_last_epochs_average(tmp_path):
    """Replaces an ``if best_epoch == 3:`` that never ran: with no split, best is always the last epoch."""
    run = train(small_settings(tmp_path / "run", epochs=2, val_fraction=0.0, mixup=0.4, ema=0.8))
    assert run.config["best_epoch"] == 2
    last, best = _state(run.checkpoint("last")), _weights(run.checkpoint("best"))
    assert set(best) == set(last["ema"])
    assert all(torch.equal(best[k], last["ema"][k]) for k in best)
    assert not torch.equal(best["0.weight"], last["model"]["0.weight"])
