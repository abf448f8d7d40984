"""The one contract every backend keeps, run for each entry of ``cnnlab.backends.BACKENDS``.

Interrupted anywhere (in epoch 1, in a later epoch, between the checkpoint and the metrics row) and
resumed, a run ends with the metrics and the model of an uninterrupted run with the same seed; the
config has one schema; the callbacks number steps the same way; bad settings are refused before anything
is written; a resume refuses a run it cannot continue exactly (no ``last``, changed data, a corrupt
file, another training writing it).
"""

from __future__ import annotations

import dataclasses
import pickle
import shutil

import numpy as np
import pytest

import cnnlab.training.loop as loop
from cnnlab.backends import BACKENDS
from cnnlab.data import load_dataset
from cnnlab.errors import CnnlabError, DataError, RunDirError, TrainingStopped
from cnnlab.recipes import RECIPES
from cnnlab.rundir import RunDir
from cnnlab.runs.predictor import load_predictor
from cnnlab.training import Callbacks, TrainSettings, fit


def _available(name: str) -> bool:
    if name == "torch":
        try:
            import torch  # noqa: F401
        except ImportError:
            return False
    return True


BACKEND_NAMES = [
    pytest.param(n, marks=pytest.mark.skipif(not _available(n), reason=f"{n} is not installed"))
    for n in BACKENDS
]

# every random part: augmentation, dropout, mixup, the weight average, a validation split, one-cycle
SMALL = RECIPES["improved"].with_overrides(
    epochs=3, batch_size=64, val_fraction=0.15, mixup=0.3, ema=0.9, dropout=0.2, augment_scale=0.7
)
TIMING = ("seconds", "images_per_s")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def settings(backend, out, **kw):
    recipe = kw.pop("recipe", SMALL)
    return TrainSettings(backend=backend, model="simple", recipe=recipe, out=out, threads=1, **kw)


def resumed(s, **kw):
    return dataclasses.replace(s, resume=True, **kw)


def untimed(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def some_test_images():
    return load_dataset(None, image_size=16).test.images[:64]


class StopAt(Callbacks):
    """Ctrl-C at ``step`` of ``epoch``; records the numbering it is called with."""

    def __init__(self, epoch=None, step=None):
        self.epoch, self.step = epoch, step
        self.current = 0
        self.starts, self.steps, self.images = [], {}, 0

    def on_epoch_start(self, epoch, epochs, steps):
        self.current = epoch
        self.starts.append((epoch, epochs, steps))
        self.steps[epoch] = []

    def on_step(self, step, loss, acc, images):
        self.steps[self.current].append(step)
        self.images += images
        if (self.current, step) == (self.epoch, self.step):
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """One uninterrupted run per backend, shared by the resume tests (read-only)."""
    runs = {}

    def get(backend):
        if backend not in runs:
            out = tmp_path_factory.mktemp(f"full-{backend}") / "run"
            runs[backend] = fit(settings(backend, out))
        return runs[backend]

    return get


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize(("epoch", "step"), [(1, 3), (2, 5), (3, 11)])
def test_interrupt_anywhere_then_resume_equals_the_uninterrupted_run(
    backend, epoch, step, tmp_path, uninterrupted
):
    full = uninterrupted(backend)
    s = settings(backend, tmp_path / "cut")
    with pytest.raises(TrainingStopped) as stop:
        fit(s, StopAt(epoch, step))
    e = stop.value
    assert (e.reason, e.epoch, e.epoch_kept, e.resumable) == ("interrupted", epoch, epoch - 1, True)
    cut = RunDir.open(tmp_path / "cut")
    assert [r["epoch"] for r in cut.metrics()] == list(range(1, epoch))  # what the files say is kept
    run = fit(resumed(s))
    assert untimed(run.metrics()) == untimed(full.metrics())
    assert run.config["best_epoch"] == full.config["best_epoch"]
    images = some_test_images()
    for kind in ("best", "last"):
        np.testing.assert_array_equal(
            load_predictor(run, kind).predict_proba(images), load_predictor(full, kind).predict_proba(images)
        )


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_both_checkpoints_predict_with_the_weight_average(backend, tmp_path):
    # without a validation split the kept epoch is the last one: "best" and "last" hold the same average
    # ("last" beside the raw weights); the validation accuracy is the average's too
    recipe = SMALL.with_overrides(epochs=2, val_fraction=0.0)
    run = fit(settings(backend, tmp_path / "run", recipe=recipe))
    assert run.config["best_epoch"] == 2
    images = some_test_images()
    best = load_predictor(run, "best").predict_proba(images)
    np.testing.assert_array_equal(load_predictor(run, "last").predict_proba(images), best)
    # the average does not steer the training: a run without it ends with the same raw weights, which
    # "last" must not be predicting with
    raw = fit(settings(backend, tmp_path / "raw", recipe=recipe.with_overrides(ema=0.0)))
    assert untimed(raw.metrics())[0]["train_loss"] == untimed(run.metrics())[0]["train_loss"]
    assert not np.array_equal(load_predictor(raw, "last").predict_proba(images), best)


class _HardKill(BaseException):
    """Stands for the process dying (not a Ctrl-C the loop can handle)."""


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_a_kill_between_the_checkpoint_and_the_metrics_row_loses_nothing(
    backend, tmp_path, monkeypatch, uninterrupted
):
    full = uninterrupted(backend)
    monkeypatch.setattr(loop, "SAVE_EVERY_S", 0.0)  # commit every epoch
    real = RunDir.write_metrics

    def dies_after_last_of_epoch_2(self, rows):
        if len(rows) == 2:
            raise _HardKill
        real(self, rows)

    monkeypatch.setattr(RunDir, "write_metrics", dies_after_last_of_epoch_2)
    s = settings(backend, tmp_path / "cut")
    with pytest.raises(_HardKill):
        fit(s)
    monkeypatch.setattr(RunDir, "write_metrics", real)
    assert [r["epoch"] for r in RunDir.open(s.out).metrics()] == [1]  # the row of epoch 2 never landed
    run = fit(resumed(s))
    assert untimed(run.metrics()) == untimed(full.metrics())  # epoch 2's row came back from last
    assert run.config["best_epoch"] == full.config["best_epoch"]


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_callbacks_number_epochs_and_steps_the_same_way(backend, tmp_path):
    cb = StopAt()
    run = fit(settings(backend, tmp_path / "run", recipe=SMALL.with_overrides(epochs=2)), cb)
    steps = int(np.ceil(run.config["num_train"] / SMALL.batch_size))
    assert cb.starts == [(1, 2, steps), (2, 2, steps)]
    assert cb.steps == {1: list(range(1, steps + 1)), 2: list(range(1, steps + 1))}
    assert cb.images == 2 * run.config["num_train"]


def test_config_json_has_one_schema_for_every_backend(tmp_path):
    cfgs = {}
    for name in BACKENDS:
        if not _available(name):
            pytest.skip(f"{name} is not installed")
        cfgs[name] = fit(settings(name, tmp_path / name, recipe=SMALL.with_overrides(epochs=1))).config
    keys = {name: set(cfg) for name, cfg in cfgs.items()}
    assert all(k == loop.CONFIG_KEYS for k in keys.values()), keys
    for cfg in cfgs.values():
        assert cfg["channels"] == 3 and cfg["num_classes"] == 2 and cfg["best_epoch"] == 1
        assert {"device_used", "threads", "processes"} <= set(cfg["backend_info"])
        assert cfg["backend_info"]["threads"] == 1  # --threads 1
        assert cfg["data_fingerprint"]["files"] == 1000  # the built-in dataset: 800 train + 200 test


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lr": 0.0}, "learning rate must be a positive number"),
        ({"batch_size": 0}, "epochs and batch_size must be >= 1"),
        ({"schedule": "step"}, "unknown schedule 'step'"),
        ({"optimizer": "lion"}, "unknown optimizer 'lion'"),
        ({"label_smoothing": 1.5}, r"label_smoothing must be in \[0, 1\)"),
        ({"weight_decay": -1.0}, "weight_decay must be >= 0"),
        ({"ema": 1.0}, r"ema must be in \[0, 1\)"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(backend, change, message, tmp_path):
    with pytest.raises(CnnlabError, match=message):
        fit(settings(backend, tmp_path / "run", recipe=SMALL.with_overrides(**change)))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("backend", "change", "message"),
    [
        ("numpy", {"device": "cuda"}, "--device cuda needs the torch backend"),
        pytest.param(
            "torch",
            {"dtype": "float64"},
            "--dtype float64 is for the numpy backend",
            marks=pytest.mark.skipif(not _available("torch"), reason="torch is not installed"),
        ),
    ],
)
def test_an_option_without_effect_on_the_backend_is_an_error(backend, change, message, tmp_path):
    with pytest.raises(CnnlabError, match=message):
        fit(settings(backend, tmp_path / "run", **change))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_resume_without_last_refuses_a_run_that_had_finished_epochs(backend, tmp_path):
    s = settings(backend, tmp_path / "run")
    with pytest.raises(TrainingStopped):
        fit(s, StopAt(3, 1))
    run = RunDir.open(s.out)
    run.checkpoint("last").unlink()
    with pytest.raises(RunDirError, match=r"last\.(npz|pt) is missing but .* has finished epochs"):
        fit(resumed(s))
    assert [r["epoch"] for r in run.metrics()] == [1, 2]  # nothing was retrained over it


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_a_resumed_run_refuses_changed_settings_and_a_foreign_backend(backend, tmp_path):
    s = settings(backend, tmp_path / "run")
    with pytest.raises(TrainingStopped):
        fit(s, StopAt(2, 1))
    with pytest.raises(CnnlabError, match="was trained with --epochs 3, not 5"):
        fit(resumed(s, recipe=SMALL.with_overrides(epochs=5)))
    other = "torch" if backend == "numpy" else "numpy"
    with pytest.raises(RunDirError, match=f"resume it with --backend {backend}"):
        fit(resumed(s, backend=other, dtype="float32", device="auto"))


def _folder(root, n=24, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, level in (("dark", 60), ("light", 190)):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = np.clip(rng.normal(level, 35, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name}_{i:03d}.png")
    return root


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_resume_refuses_changed_data_unless_asked(backend, tmp_path):
    data = _folder(tmp_path / "data")
    recipe = SMALL.with_overrides(batch_size=8, val_fraction=0.2)
    s = settings(backend, tmp_path / "run", data=str(data), recipe=recipe)
    with pytest.raises(TrainingStopped):
        fit(s, StopAt(2, 1))
    for path in sorted((data / "dark").iterdir())[:5]:
        path.unlink()
    with pytest.raises(DataError, match=r"the data changed since .* \(48 files, .* then, 43 files"):
        fit(resumed(s))
    run = fit(resumed(s, allow_data_change=True))
    assert [r["epoch"] for r in run.metrics()] == [1, 2, 3]
    assert run.config["data_fingerprint"]["files"] == 43


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_a_corrupt_checkpoint_is_one_line_on_load_and_on_resume(backend, tmp_path):
    s = settings(backend, tmp_path / "run", recipe=SMALL.with_overrides(epochs=2))
    with pytest.raises(TrainingStopped):
        fit(s, StopAt(2, 1))
    run = RunDir.open(s.out)
    for kind in ("best", "last"):
        path = run.checkpoint(kind)
        shutil.copy(path, tmp_path / f"{kind}.good")
        data = bytearray(path.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
        path.write_bytes(bytes(data))
    with pytest.raises(RunDirError, match="best") as err:
        load_predictor(run)
    assert "\n" not in str(err.value)
    with pytest.raises(RunDirError, match="last") as err:
        fit(resumed(s))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_a_run_directory_is_locked_while_a_training_writes_it(backend, tmp_path):
    s = settings(backend, tmp_path / "run", recipe=SMALL.with_overrides(epochs=1))
    fit(s)
    other = RunDir(s.out).lock()  # stands for a second training writing it
    try:
        with pytest.raises(RunDirError, match="being written by another training"):
            fit(dataclasses.replace(s, overwrite=True))
        with pytest.raises(RunDirError, match="being written by another training"):
            fit(resumed(s))
        assert (s.out / "metrics.csv").is_file()  # --overwrite replaced nothing
    finally:
        other.unlock()
    fit(dataclasses.replace(s, overwrite=True))  # free again


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_a_non_finite_loss_stops_with_fields_and_keeps_the_last_good_epoch(backend, tmp_path, monkeypatch):
    import cnnlab.recipes

    real = cnnlab.recipes.learning_rate
    engine = BACKENDS[backend].engine_module()
    recipe = SMALL.with_overrides(epochs=3, optimizer="sgd", mixup=0.0, ema=0.0, augment=False)
    steps = int(np.ceil(680 / recipe.batch_size))  # 800 built-in images, 15 % held out

    def exploding(r, step, total):  # from epoch 2, step 3: a learning rate no network survives
        return 1e30 if step >= steps + 2 else real(r, step, total)

    monkeypatch.setattr(engine, "learning_rate", exploding)
    with pytest.raises(TrainingStopped) as stop:
        fit(settings(backend, tmp_path / "run", recipe=recipe))
    e = stop.value
    assert (e.reason, e.epoch, e.epoch_kept) == ("non-finite loss", 2, 1)
    assert e.step is not None and e.step > 2 and not np.isfinite(e.loss)
    run = RunDir.open(tmp_path / "run")
    assert [r["epoch"] for r in run.metrics()] == [1]
    probs = load_predictor(run, "last").predict_proba(some_test_images())
    assert np.isfinite(probs).all()
    # a stop in a worker process (cnnlab cv, make selection) reaches its parent with its fields
    again = pickle.loads(pickle.dumps(e))
    assert (again.reason, again.epoch, again.epoch_kept, again.step, str(again)) == (
        e.reason,
        e.epoch,
        e.epoch_kept,
        e.step,
        str(e),
    )


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_every_backend_augments_with_the_recipes_padding_and_scale(backend, tmp_path, monkeypatch):
    """The recipe is shared: each engine builds its Augmenter from ``augment_pad`` and ``augment_scale``.

    (This test once carried both trainers' name and tested one of them.)
    """
    import cnnlab.data

    made = []
    real = cnnlab.data.Augmenter

    def recording(*args, **kwargs):
        made.append((kwargs.get("pad"), kwargs.get("scale")))
        return real(*args, **kwargs)

    monkeypatch.setattr(cnnlab.data, "Augmenter", recording)
    recipe = SMALL.with_overrides(epochs=1, augment_pad=7, augment_scale=0.6)
    fit(settings(backend, tmp_path / "run", recipe=recipe))
    assert made and set(made) == {(7, (0.6, 1.0))}


def test_the_numpy_backend_under_torchrun_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(CnnlabError, match="under torchrun pass --backend torch"):
        fit(settings("numpy", tmp_path / "run"))
    assert not (tmp_path / "run").exists()
