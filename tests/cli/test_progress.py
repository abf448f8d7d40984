"""The training progress display (in-process): running means, the per-epoch line, terminal and plain modes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from cnnlab.cli.train import ProgressCallbacks, build_settings, epoch_line
from cnnlab.errors import CnnlabError
from cnnlab.recipes import RECIPES
from cnnlab.training import TrainSettings

ROW = {
    "epoch": 3,
    "train_loss": 0.51234,
    "train_acc": 0.7412,
    "val_loss": 0.4,
    "val_acc": 0.76,
    "lr": 1.2e-3,
    "seconds": 12.34,
    "images_per_s": 812.4,
}


def test_epoch_line():
    assert epoch_line(ROW, 20) == (
        "epoch  3/20  train loss 0.5123 acc  74.1%  val loss 0.4000 acc  76.0%  "
        "lr 1.20e-03  12.3 s  812 img/s"
    )
    no_val = {**ROW, "val_loss": None, "val_acc": None}
    assert "val" not in epoch_line(no_val, 5)


def _drive(callbacks: ProgressCallbacks) -> None:
    settings = TrainSettings(
        model="simple", recipe=RECIPES["lab"].with_overrides(epochs=2), out=Path("runs/x")
    )
    callbacks.on_train_start(settings, num_train=48, num_val=0, start_epoch=1)
    callbacks.on_epoch_start(1, 2, 2)
    callbacks.on_step(1, loss=1.0, acc=0.5, images=32)
    callbacks.on_step(2, loss=0.5, acc=1.0, images=16)


def test_running_means_weight_each_batch_by_its_images():
    console = Console(file=io.StringIO(), force_terminal=True, width=150)
    cb = ProgressCallbacks(console)
    try:
        _drive(cb)
        task = cb.progress.tasks[0]
        # (1.0 * 32 + 0.5 * 16) / 48 and (0.5 * 32 + 1.0 * 16) / 48
        assert task.fields["loss"] == pytest.approx(40 / 48)
        assert task.fields["acc"] == pytest.approx(100 * 32 / 48)
        assert task.completed == 2 and task.total == 2
        cb._run_t0 -= 100  # as if the first epoch took 100 s: one epoch left, so 100 s to go
        cb.on_epoch_end({**ROW, "epoch": 1})
        assert cb.progress.tasks == []  # the bar of a finished epoch makes way for its line
    finally:
        cb.close()
    out = console.file.getvalue()
    assert "training simple (numpy, recipe lab) on 48 train images" in out
    assert "epoch 1/2  train loss 0.5123" in out
    assert "(run eta 1:40)" in out


def test_plain_lines_when_not_a_terminal(capsys):
    cb = ProgressCallbacks(Console(file=io.StringIO(), force_terminal=False))
    _drive(cb)
    cb.on_epoch_end({**ROW, "epoch": 2})
    cb.on_message("saved best.npz")
    cb.close()
    assert cb.progress is None
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("training simple")
    assert lines[1].startswith("epoch 2/2  train loss 0.5123")
    assert "run eta" not in lines[1]  # nothing left
    assert lines[2] == "saved best.npz"


def _options(**changes):
    base = dict(
        backend=None,
        model=None,
        recipe=None,
        data=None,
        epochs=None,
        batch_size=None,
        lr=None,
        image_size=None,
        seed=None,
        out=None,
        resume=False,
        overwrite=False,
        device=None,
        dtype=None,
    )
    return {**base, **changes}


def test_settings_from_recipe_and_overrides():
    s = build_settings(**_options(recipe="lab", epochs=3, lr=0.01, model="simple"))
    assert s.recipe == RECIPES["lab"].with_overrides(epochs=3, lr=0.01)
    assert (s.backend, s.model, s.device, s.dtype, s.data) == ("numpy", "simple", "auto", "float32", None)
    assert s.out == Path("runs/simple-numpy-lab")
    assert build_settings(**_options()).recipe == RECIPES["improved"]
    held = build_settings(**_options(val_fraction=0.15))
    assert held.recipe == RECIPES["improved"].with_overrides(val_fraction=0.15)
    with pytest.raises(CnnlabError, match=r"--val-fraction must be in \[0, 1\), not 1.0"):
        build_settings(**_options(val_fraction=1.0))


def test_resume_takes_the_run_settings(tmp_path):
    from cnnlab.runs import RunDir

    saved = TrainSettings(
        model="simple", recipe=RECIPES["lab"].with_overrides(epochs=4), out=tmp_path, image_size=16
    )
    RunDir.create(tmp_path, saved.to_config())
    s = build_settings(**_options(out=tmp_path, resume=True, device="cpu", epochs=4, model="simple"))
    assert (s.model, s.recipe, s.image_size, s.resume, s.device) == ("simple", saved.recipe, 16, True, "cpu")
    with pytest.raises(CnnlabError, match="--epochs 4, not 9"):
        build_settings(**_options(out=tmp_path, resume=True, epochs=9))
    with pytest.raises(CnnlabError, match="--model simple, not cnn"):
        build_settings(**_options(out=tmp_path, resume=True, model="cnn"))


def _stopping_fit(reason: str, epoch_kept: int):
    from cnnlab.errors import TrainingStopped

    def fit(settings, callbacks):
        raise TrainingStopped(reason, 2, epoch_kept, settings.out, step=3, loss=float("nan"))

    return fit


@pytest.mark.parametrize(
    ("reason", "code"), [("non-finite loss", 1), ("interrupted", 130)], ids=["non-finite loss", "ctrl-c"]
)
def test_a_stopped_run_is_one_line_made_from_the_fields(monkeypatch, tmp_path, capsys, reason, code):
    import cnnlab.cli as cli
    import cnnlab.training.loop as loop

    out = tmp_path / "run"
    monkeypatch.setattr(loop, "fit", _stopping_fit(reason, 0))
    assert cli.main(["train", "--model", "simple", "--out", str(out)]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cnnlab: training stopped: ")
    assert "nothing was kept" in err[0]
    assert err[0].endswith(f"; cnnlab train --out {out} --resume starts it from epoch 1")
    monkeypatch.setattr(loop, "fit", _stopping_fit(reason, 1))
    assert cli.main(["train", "--model", "simple", "--out", str(out)]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert "kept the checkpoint of epoch 1" in err[0]
    assert err[0].endswith(f"; continue with: cnnlab train --out {out} --resume")
