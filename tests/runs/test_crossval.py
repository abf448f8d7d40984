"""Cross-validation on the training images with the NumPy trainer: folds, scores, cv.json, resume, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import cnnlab.nn.engine as nn_engine
import cnnlab.nn.trainer as nn_trainer
from cnnlab.data import kfold_split, load_dataset, normalize
from cnnlab.errors import CnnlabError, RunDirError, TrainingStopped
from cnnlab.nn.checkpoint import load_checkpoint
from cnnlab.recipes import RECIPES
from cnnlab.runs import RunDir
from cnnlab.runs.crossval import cross_validate, stored_settings
from cnnlab.training import Callbacks, TrainSettings
from tests.cli.conftest import assert_one_line_error, cnnlab

RECIPE = RECIPES["improved"].with_overrides(epochs=2, batch_size=64, ema=0.5)


def _settings(out, **kw):
    return TrainSettings(backend="numpy", model="simple", recipe=RECIPE, out=out, **kw)


def test_each_fold_validates_its_own_images_and_the_mean_is_the_folds_mean(tmp_path):
    reported = []
    result = cross_validate(
        _settings(tmp_path / "cv"), 3, nn_trainer.train, on_fold=lambda f, n: reported.append(f)
    )
    assert [f.fold for f in result.folds] == [1, 2, 3] == [f.fold for f in reported]
    ds = load_dataset(None, image_size=16)
    for k, fold in enumerate(result.folds):
        train_idx, val_idx = kfold_split(ds.train.labels, 3, k, RECIPE.seed)
        run = RunDir.open(fold.run)
        assert run.config["cv_fold"] == [k, 3]
        assert (fold.num_train, fold.num_val) == (train_idx.size, val_idx.size)
        # the score is the final averaged model's accuracy on exactly this fold's images (recomputed)
        _, opt_state, _ = load_checkpoint(run.checkpoint("last"))
        final = {k[len("ema.") :]: v for k, v in opt_state.items() if k.startswith("ema.")}
        model = nn_engine.build_model(
            "simple", 16, 2, RECIPE.dropout, np.float32, seed=0, init=nn_engine.INIT
        )
        model.load_state_dict(final)
        logp = nn_engine.predict_logprobs(model, normalize(ds.train.images[val_idx]), tta_flip=True)
        assert np.mean(logp.argmax(1) == ds.train.labels[val_idx]) == fold.final_val_acc
        assert fold.final_val_acc == run.metrics()[-1]["val_acc"]
        assert fold.best_val_acc == max(r["val_acc"] for r in run.metrics())
    saved = json.loads((tmp_path / "cv" / "cv.json").read_text())
    accs = [f.final_val_acc for f in result.folds]
    assert saved["mean_val_acc"] == pytest.approx(np.mean(accs), abs=1e-12)
    assert saved["std_val_acc"] == pytest.approx(np.std(accs, ddof=1), abs=1e-12)
    assert sum(f["num_val"] for f in saved["folds"]) == 800  # every training image validated once


class _StopIn(Callbacks):
    def __init__(self, fold_dir):
        self.fold_dir, self.out = fold_dir, None

    def on_train_start(self, settings, num_train, num_val, start_epoch):
        self.out = settings.out

    def on_epoch_start(self, epoch, epochs, steps):
        if self.out.name == self.fold_dir and epoch == 2:
            raise KeyboardInterrupt


def test_an_interrupted_cross_validation_resumes_to_the_same_result(tmp_path):
    full = cross_validate(_settings(tmp_path / "full"), 2, nn_trainer.train)
    with pytest.raises(TrainingStopped, match="interrupted in epoch 2"):
        cross_validate(_settings(tmp_path / "cut"), 2, nn_trainer.train, _StopIn("fold-2"))
    first = (tmp_path / "cut" / "fold-1" / "last.npz").stat().st_mtime_ns
    partial = json.loads((tmp_path / "cut" / "cv.json").read_text())  # settings + the finished fold
    assert not partial["complete"] and [f["fold"] for f in partial["folds"]] == [1]
    stored, folds = stored_settings(tmp_path / "cut")
    assert (stored.recipe, stored.model, folds) == (RECIPE, "simple", 2)
    with pytest.raises(RunDirError, match="pass --resume"):
        cross_validate(_settings(tmp_path / "cut"), 2, nn_trainer.train)
    again = cross_validate(_settings(tmp_path / "cut", resume=True), 2, nn_trainer.train)
    assert (tmp_path / "cut" / "fold-1" / "last.npz").stat().st_mtime_ns == first  # kept, not retrained
    assert [f.final_val_acc for f in again.folds] == [f.final_val_acc for f in full.folds]
    # a fold's time is its epochs' (metrics.csv): the kept fold keeps its time, not the reopening's
    rows = RunDir.open(tmp_path / "cut" / "fold-1").metrics()
    assert again.folds[0].seconds == pytest.approx(sum(r["seconds"] for r in rows)) and rows[0]["seconds"] > 0
    with pytest.raises(CnnlabError, match="at least 2 folds"):
        cross_validate(_settings(tmp_path / "x"), 1, nn_trainer.train)


def test_the_cv_command_prints_a_line_per_fold_and_the_mean(tmp_path):
    out = tmp_path / "cv"
    args = ["cv", "--model", "simple", "--epochs", "1", "--folds", "2", "--batch-size", "64", "--out", out]
    proc = cnnlab(*args)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    folds = [line for line in lines if line.startswith("fold ")]
    assert folds[0].startswith("fold 1/2: validation accuracy") and folds[1].startswith("fold 2/2:")
    # progress inside each fold: its training line and its epoch line before the fold's result
    assert [line.split()[0] for line in lines[1:7]] == [
        "training",
        "epoch",
        "fold",
        "training",
        "epoch",
        "fold",
    ]
    assert "fold-1" in lines[1] and "fold-2" in lines[4]
    saved = json.loads((out / "cv.json").read_text())
    assert (
        f"cross-validation: {100 * saved['mean_val_acc']:.1f} ± {100 * saved['std_val_acc']:.1f}%"
        in lines[-1]
    )
    assert_one_line_error(cnnlab(*args), "already holds files", "--resume")
    # --resume keeps the stored settings: finished folds are kept and the summary is the same
    again = cnnlab("cv", "--out", out, "--resume")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1] == lines[-1]
    assert "simple (numpy, recipe improved, 1 epochs)" in again.stdout
    assert_one_line_error(
        cnnlab("cv", "--out", out, "--resume", "--epochs", "3"), "keeps the settings", "--epochs"
    )
    assert_one_line_error(
        cnnlab("cv", "--out", tmp_path / "none", "--resume"), "no cross-validation to resume"
    )


def test_the_one_standard_error_rule_takes_the_steadiest_of_the_tied():
    from cnnlab.training.crossval import choose

    scores = {
        "a": [0.70, 0.72, 0.74],  # mean 0.72, behind
        "b": [0.70, 0.80, 0.90],  # best mean 0.80, sd 0.1: threshold 0.80 - 0.1/sqrt(3) = 0.7423
        "c": [0.75, 0.76, 0.77],  # mean 0.76, sd 0.01: tied and the steadiest
        "d": [0.74, 0.745, 0.75],  # mean 0.745 >= 0.7423: tied, sd 0.005: steadier still
    }
    c = choose(scores)
    assert (c.best, c.tied, c.chosen) == ("b", ("b", "c", "d"), "d")
    assert c.threshold == pytest.approx(0.80 - 0.1 / np.sqrt(3), abs=1e-12)
    assert choose({k: scores[k] for k in "abc"}).chosen == "c"
    assert choose({"b": scores["b"]}).chosen == "b"  # alone: chosen however spread
    with pytest.raises(CnnlabError, match="x has fewer"):
        choose({"x": [0.5], "b": scores["b"]})
    with pytest.raises(CnnlabError, match="no candidates"):
        choose({})
