"""The NumPy backend through the fit loop on the built-in dataset: learning, checkpoints, what it saves.

Resume, stops, locks and the config schema are the contract of every backend: tests/training/.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import cnnlab.nn.engine as engine
import cnnlab.nn.trainer as trainer
from cnnlab.data import load_dataset
from cnnlab.errors import RunDirError, TrainingStopped
from cnnlab.nn.checkpoint import load_checkpoint
from cnnlab.recipes import RECIPES
from cnnlab.runs import METRIC_COLUMNS, RunDir
from cnnlab.runs.predictor import load_predictor
from cnnlab.training import Callbacks, TrainSettings

# every random part: augmentation, dropout, a validation split, a one-cycle schedule, AdamW (mixup and
# the weight average have their own test below)
SMALL = RECIPES["improved"].with_overrides(epochs=3, batch_size=64, val_fraction=0.15, mixup=0.0, ema=0.0)


def _settings(tmp_path, name="run", **kw):
    recipe = kw.pop("recipe", SMALL)
    return TrainSettings(model="simple", recipe=recipe, out=tmp_path / name, **kw)


def _params(run, kind="last"):
    return load_checkpoint(run.checkpoint(kind))[0]


class _Recorder(Callbacks):
    def __init__(self, stop_at_epoch=None):
        self.rows, self.messages, self.steps, self.stop_at_epoch = [], [], 0, stop_at_epoch

    def on_epoch_start(self, epoch, epochs, steps):
        if epoch == self.stop_at_epoch:
            raise KeyboardInterrupt

    def on_step(self, step, loss, acc, images):
        self.steps += 1

    def on_epoch_end(self, row):
        self.rows.append(row)

    def on_message(self, text):
        self.messages.append(text)


def test_simple_learns_on_the_builtin_dataset(tmp_path):
    recipe = RECIPES["lab"].with_overrides(epochs=6, lr=1e-2)
    cb = _Recorder()
    run = trainer.train(_settings(tmp_path, recipe=recipe), cb)
    rows = run.metrics()
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert set(rows[0]) == set(METRIC_COLUMNS)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] - 0.1
    assert rows[0]["val_acc"] is None  # the lab recipe has no validation split
    assert cb.steps == 6 * 25  # 800 images in batches of 32
    cfg = run.config
    assert cfg["backend"] == "numpy" and cfg["classes"] == ["cats", "dogs"]
    assert cfg["image_size"] == 16 and cfg["num_classes"] == 2 and cfg["best_epoch"] == 6
    assert "Total params: 3,042" in (run / "summary.txt").read_text()  # 3*3*3*16 + 16 + 1296*2 + 2
    # best = last without a validation split
    for k, v in _params(run, "best").items():
        np.testing.assert_array_equal(v, _params(run, "last")[k])

    ds = load_dataset(None, image_size=16)
    predictor = load_predictor(run.path)
    proba = predictor.predict_proba(ds.test.images)
    assert proba.shape == (200, 2) and np.allclose(proba.sum(axis=1), 1)
    assert np.mean(proba.argmax(axis=1) == ds.test.labels) > 0.7  # chance is 0.5
    maps = predictor.feature_maps(ds.test.images[0])
    assert [(n, a.shape) for n, a in maps] == [("conv1", (18, 18, 16))]
    assert (maps[0][1] >= 0).all()


def test_same_seed_same_run_and_resume_equals_uninterrupted(tmp_path):
    full = trainer.train(_settings(tmp_path, "full"))
    again = trainer.train(_settings(tmp_path, "again"))
    for k, v in _params(full).items():
        np.testing.assert_array_equal(v, _params(again)[k])

    cb = _Recorder(stop_at_epoch=3)
    with pytest.raises(TrainingStopped, match=r"interrupted in epoch 3; kept the checkpoint of epoch 2"):
        trainer.train(_settings(tmp_path, "cut"), cb)
    cut = RunDir.open(tmp_path / "cut")
    assert load_checkpoint(cut.checkpoint("last"))[2]["epoch"] == 2
    resumed = trainer.train(_settings(tmp_path, "cut", resume=True))
    final, opt_state, meta = load_checkpoint(resumed.checkpoint("last"))
    ref, ref_opt, ref_meta = load_checkpoint(full.checkpoint("last"))
    assert meta["epoch"] == ref_meta["epoch"] == 3 and meta["best"] == ref_meta["best"]
    assert [r["train_loss"] for r in meta["rows"]] == [r["train_loss"] for r in ref_meta["rows"]]
    for k in ref:
        np.testing.assert_array_equal(final[k], ref[k])
    for k in ref_opt:
        np.testing.assert_array_equal(opt_state[k], ref_opt[k])
    timing = {"seconds", "images_per_s"}
    strip = [{k: v for k, v in r.items() if k not in timing} for r in resumed.metrics()]
    assert strip == [{k: v for k, v in r.items() if k not in timing} for r in full.metrics()]


def test_different_seed_differs(tmp_path):
    a = trainer.train(_settings(tmp_path, "a", recipe=SMALL.with_overrides(epochs=1)))
    b = trainer.train(_settings(tmp_path, "b", recipe=SMALL.with_overrides(epochs=1, seed=7)))
    assert not np.array_equal(_params(a)["0.weight"], _params(b)["0.weight"])


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real = engine.softmax_cross_entropy
    calls = {"n": 0}
    steps_per_epoch = 11  # ceil(680 / 64): 680 training images (85 % of 800) in batches of 64

    def poisoned(logits, labels, label_smoothing=0.0):
        calls["n"] += 1
        loss, grad = real(logits, labels, label_smoothing)
        return (float("nan") if calls["n"] == steps_per_epoch + 5 else loss), grad

    monkeypatch.setattr(engine, "softmax_cross_entropy", poisoned)
    with pytest.raises(
        TrainingStopped, match=r"loss became nan at epoch 2, step 5; kept the checkpoint of epoch 1"
    ):
        trainer.train(_settings(tmp_path))
    run = RunDir.open(tmp_path / "run")
    params, _, meta = load_checkpoint(run.checkpoint("last"))
    assert meta["epoch"] == 1 and all(np.isfinite(v).all() for v in params.values())
    assert [r["epoch"] for r in run.metrics()] == [1]


def test_diverging_loss_in_the_first_epoch(tmp_path):
    recipe = RECIPES["lab"].with_overrides(epochs=2, optimizer="sgd", lr=1e12)
    with pytest.raises(TrainingStopped, match="no epoch had finished, so nothing was kept"):
        trainer.train(_settings(tmp_path, recipe=recipe))
    assert not (tmp_path / "run" / "last.npz").exists()


def test_checkpoints_are_plain_npz(tmp_path):
    run = trainer.train(_settings(tmp_path, recipe=SMALL.with_overrides(epochs=1)))
    with np.load(run.checkpoint("last"), allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
        meta = json.loads(str(z["meta"]))
    assert meta["epoch"] == 1 and "optimizer.exp_avg.0.weight" in z.files and len(meta["checksum"]) == 64
    (run.path / "best.npz").write_bytes(b"not a zip")
    with pytest.raises(RunDirError, match=r"best\.npz is not a readable cnnlab checkpoint"):
        load_predictor(run.path)


def test_refuses_an_existing_run_without_overwrite(tmp_path):
    trainer.train(_settings(tmp_path, recipe=SMALL.with_overrides(epochs=1)))
    with pytest.raises(RunDirError, match="already holds files"):
        trainer.train(_settings(tmp_path, recipe=SMALL.with_overrides(epochs=1)))


def test_predictor_checks_its_input(tmp_path):
    run = trainer.train(_settings(tmp_path, recipe=SMALL.with_overrides(epochs=1)))
    p = load_predictor(run.path, "last")
    assert p.backend == "numpy" and p.tta_flip and p.image_size == 16
    with pytest.raises(Exception, match=r"uint8 images of shape \('N', 16, 16, 3\)"):
        p.predict_proba(np.zeros((2, 8, 8, 3), np.uint8))
    assert p.predict_proba(np.zeros((0, 16, 16, 3), np.uint8)).shape == (0, 2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lr": 0.0}, "learning rate must be a positive number"),
        ({"batch_size": 0}, "epochs and batch_size must be >= 1"),
        ({"label_smoothing": 1.5}, r"label_smoothing must be in \[0, 1\)"),
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
    ],
)
def test_bad_settings_are_one_clear_line(tmp_path, change, message):
    from cnnlab.errors import CnnlabError

    with pytest.raises(CnnlabError, match=message):
        trainer.train(_settings(tmp_path, recipe=SMALL.with_overrides(**change)))
    assert not (tmp_path / "run").exists()


def test_image_too_small_for_the_model(tmp_path):
    from cnnlab.errors import CnnlabError

    with pytest.raises(CnnlabError, match="too small"):
        trainer.train(TrainSettings(model="cnn", recipe=SMALL, image_size=4, out=tmp_path / "run"))


def test_float64_training_and_prediction(tmp_path):
    run = trainer.train(_settings(tmp_path, recipe=SMALL.with_overrides(epochs=1), dtype="float64"))
    params = _params(run)
    assert all(v.dtype == np.float64 for v in params.values())
    p = load_predictor(run.path)
    assert p.model.dtype == np.float64
    proba = p.predict_proba(load_dataset(None, image_size=16).test.images[:5])
    assert proba.dtype == np.float64 and np.allclose(proba.sum(axis=1), 1, atol=1e-12)


def test_mixup_and_weight_average_resume_exactly_and_the_average_is_what_is_validated(tmp_path):
    recipe = SMALL.with_overrides(mixup=0.4, ema=0.8, augment_scale=0.6)
    full = trainer.train(_settings(tmp_path, "full", recipe=recipe))
    with pytest.raises(TrainingStopped, match="interrupted in epoch 3"):
        trainer.train(_settings(tmp_path, "cut", recipe=recipe), _Recorder(stop_at_epoch=3))
    resumed = trainer.train(_settings(tmp_path, "cut", recipe=recipe, resume=True))
    final, opt_state, _ = load_checkpoint(resumed.checkpoint("last"))
    ref, ref_opt, _ = load_checkpoint(full.checkpoint("last"))
    assert {k for k in ref_opt if k.startswith("ema.")} == {f"ema.{k}" for k in ref}
    for k in ref:
        np.testing.assert_array_equal(final[k], ref[k])
    for k in ref_opt:
        np.testing.assert_array_equal(opt_state[k], ref_opt[k])

    # best.npz holds the average (not the raw weights), and it reproduces the recorded accuracy
    best = _params(full, "best")
    best_epoch = full.config["best_epoch"]
    assert not np.array_equal(best["0.weight"], ref["0.weight"])
    ds = load_dataset(None, image_size=16)
    from cnnlab.data import normalize, train_val_split

    _, val_idx = train_val_split(ds.train.labels, recipe.val_fraction, recipe.seed)
    model = engine.build_model("simple", 16, 2, recipe.dropout, np.float32, seed=0, init=engine.INIT)
    model.load_state_dict(best)
    logp = engine.predict_logprobs(model, normalize(ds.train.images[val_idx]), tta_flip=True)
    acc = float(np.mean(logp.argmax(axis=1) == ds.train.labels[val_idx]))
    assert acc == full.metrics()[best_epoch - 1]["val_acc"]


def test_without_a_validation_split_best_is_the_last_epochs_average(tmp_path):
    """Replaces an ``if best_epoch == 3:`` that never ran: with no split, best is always the last epoch."""
    recipe = SMALL.with_overrides(epochs=2, val_fraction=0.0, mixup=0.4, ema=0.8)
    run = trainer.train(_settings(tmp_path, recipe=recipe))
    assert run.config["best_epoch"] == 2
    _, opt_state, _ = load_checkpoint(run.checkpoint("last"))
    best = _params(run, "best")
    assert set(best) == {k[len("ema.") :] for k in opt_state if k.startswith("ema.")}
    for k, v in best.items():
        np.testing.assert_array_equal(v, opt_state[f"ema.{k}"])
