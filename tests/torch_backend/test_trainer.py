"""The torch trainer on the built-in dataset: run directory, determinism, resume, NaN stop, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cnnlab.data import load_dataset, train_val_split  # noqa: E402
from cnnlab.errors import CnnlabError, RunDirError, TrainingStopped  # noqa: E402
from cnnlab.runs import METRIC_COLUMNS, RunDir  # noqa: E402
from cnnlab.torch_backend import build_model  # noqa: E402
from cnnlab.torch_backend import trainer as trainer_mod  # noqa: E402
from cnnlab.torch_backend.trainer import select_device, shard, train  # noqa: E402
from cnnlab.training import Callbacks  # noqa: E402

from .conftest import small_settings  # noqa: E402


def _weights(path):
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("model", state)


def test_run_directory_holds_config_metrics_and_checkpoints(trained_run):
    run = RunDir.open(trained_run.path)
    cfg = run.config
    assert cfg["backend"] == "torch" and cfg["model"] == "simple"
    assert cfg["classes"] == ["cats", "dogs"] and cfg["num_classes"] == 2 and cfg["image_size"] == 16
    assert cfg["versions"]["torch"] == torch.__version__
    assert cfg["recipe"]["seed"] == 7
    rows = run.metrics()
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert set(rows[0]) == set(METRIC_COLUMNS)
    assert all(0 <= r["val_acc"] <= 1 and r["train_loss"] > 0 for r in rows)
    for name in ("best.pt", "last.pt", "summary.txt"):
        assert (run.path / name).is_file()
    # best.pt is a bare state dict that loads with weights_only=True into the model
    best = torch.load(run.checkpoint("best"), weights_only=True)
    assert sorted(best) == ["0.bias", "0.weight", "5.bias", "5.weight"]  # Dropout at 4 shifts Linear to 5
    build_model("simple", dropout=0.2).load_state_dict(best)
    last = torch.load(run.checkpoint("last"), weights_only=True)
    assert last["epoch"] == 3 and {"optimizer", "rng", "best_epoch"} <= set(last)
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
    model.load_state_dict(torch.load(trained_run.checkpoint("best"), weights_only=True))
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


def test_ctrl_c_then_resume_equals_an_uninterrupted_run(tmp_path):
    full = train(small_settings(tmp_path / "full", epochs=3, dropout=0.3))
    with pytest.raises(TrainingStopped, match="interrupted"):
        train(small_settings(tmp_path / "cut", epochs=3, dropout=0.3), _StopAfter(2))
    cut = RunDir.open(tmp_path / "cut")
    assert [r["epoch"] for r in cut.metrics()] == [1, 2]
    resumed = train(
        small_settings(tmp_path / "cut", epochs=3, dropout=0.3).__class__(
            **{**small_settings(tmp_path / "cut", epochs=3, dropout=0.3).__dict__, "resume": True}
        )
    )
    wf, wr = _weights(full.checkpoint("last")), _weights(resumed.checkpoint("last"))
    assert all(torch.equal(wf[k], wr[k]) for k in wf)
    cols = ["train_loss", "train_acc", "val_loss", "val_acc", "lr"]
    assert [[r[c] for c in cols] for r in resumed.metrics()] == [[r[c] for c in cols] for r in full.metrics()]
    bf, br = _weights(full.checkpoint("best")), _weights(resumed.checkpoint("best"))
    assert all(torch.equal(bf[k], br[k]) for k in bf)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real = trainer_mod.learning_rate
    settings = small_settings(tmp_path / "nan", epochs=3, augment=False, label_smoothing=0.0)
    steps_per_epoch = math.ceil(640 / 32)  # 800 built-in training images, 20% held out for validation

    def exploding(recipe, step, total):  # from epoch 2 on, a learning rate no network survives
        return 1e30 if step >= steps_per_epoch else real(recipe, step, total)

    monkeypatch.setattr(trainer_mod, "learning_rate", exploding)
    with pytest.raises(
        TrainingStopped, match=r"loss became (nan|inf) at epoch 2.*kept the checkpoints of epoch 1"
    ):
        train(settings)
    run = RunDir.open(tmp_path / "nan")
    assert [r["epoch"] for r in run.metrics()] == [1]
    last = torch.load(run.checkpoint("last"), weights_only=True)
    assert last["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in last["model"].values())


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
    with pytest.raises(CnnlabError, match="epochs must be at least 1"):
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
    lf = torch.load(full.checkpoint("last"), weights_only=True)
    lr_ = torch.load(resumed.checkpoint("last"), weights_only=True)
    for part in ("model", "ema"):
        assert all(torch.equal(lf[part][k], lr_[part][k]) for k in lf[part])
    cols = ["train_loss", "train_acc", "val_loss", "val_acc"]
    assert [[r[c] for c in cols] for r in resumed.metrics()] == [[r[c] for c in cols] for r in full.metrics()]
    best = torch.load(full.checkpoint("best"), weights_only=True)
    assert not torch.equal(best["0.weight"], lf["model"]["0.weight"])
    if full.config["best_epoch"] == 3:
        assert torch.equal(best["0.weight"], lf["ema"]["0.weight"])
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
