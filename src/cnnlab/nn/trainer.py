"""The NumPy trainer: ``train(settings, callbacks) -> RunDir``.

One run, following the "training" contract of ``docs/architecture.md``:

1. Load the images (:func:`cnnlab.data.load_dataset`), carve a stratified validation split from the
   training images when the recipe has ``val_fraction > 0``, or hold out one cross-validation fold
   (``settings.cv_fold``; :meth:`TrainSettings.split`). The test split is never touched here.
2. Build the model (:func:`cnnlab.nn.build_model`, seeded by ``recipe.seed``) with PyTorch's default
   initialisation (:data:`INIT`), so both backends train the same model from the same distribution,
   and the recipe's optimizer; write ``config.json`` and ``summary.txt``.
3. Each epoch: shuffle, cut mini-batches (the last one may be smaller), augment (uint8, when the recipe
   says so), normalise, and per step set the learning rate from :func:`cnnlab.recipes.learning_rate`,
   run forward, the label-smoothed softmax cross-entropy (against mixup's blended targets when the
   recipe has ``mixup``, :mod:`cnnlab.data.mixup`), backward and the optimizer step, then update the
   weight average when the recipe has ``ema`` (:mod:`cnnlab.nn.ema`). Then evaluate on the
   validation split (evaluation mode, no augmentation, flip averaging when the recipe has
   ``tta_flip``, plain negative log-likelihood: as the predictor will score it), append a row to
   ``metrics.csv`` and write ``last.npz`` (weights, optimizer state, epoch) and, when the validation
   accuracy improved (ties: lower validation loss), ``best.npz``. Without a validation split the best
   checkpoint is the last one. With ``ema`` the averaged weights are the ones validated and saved as
   the model (``best.npz``; ``last.npz`` keeps both, for resuming).

Determinism: every random draw of epoch ``e`` (shuffle order, augmentation, mixup, dropout masks) comes
from generators seeded with ``(recipe.seed, e)``, so the run is a function of the seed, and a run
resumed from ``last.npz`` after epoch ``e`` continues exactly as the uninterrupted run would have (the
checkpoint records the scheme and the seed; there is no hidden generator state to restore).

A non-finite loss stops the run before the bad step touches the weights, and Ctrl-C stops it; both
raise :class:`cnnlab.errors.TrainingStopped` with the checkpoint kept (the last complete epoch's) and
how to continue.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlab.architectures import ARCHITECTURES, DEFAULT_IMAGE_SIZE, get_architecture, output_shapes
from cnnlab.errors import CnnlabError, DataError, RunDirError, TrainingStopped
from cnnlab.nn.checkpoint import load_checkpoint, save_checkpoint
from cnnlab.nn.ema import WeightAverage
from cnnlab.nn.losses import log_softmax, smoothed_targets, soft_cross_entropy, softmax_cross_entropy
from cnnlab.nn.model import Sequential, build_model
from cnnlab.nn.optim import Optimizer, make_optimizer
from cnnlab.nn.summary import summarize
from cnnlab.recipes import Recipe, learning_rate
from cnnlab.runs import RunDir, atomic_write_text
from cnnlab.training import Callbacks, TrainSettings, skipped_files_note

#: Images per forward pass when evaluating (bounds the im2col buffers: ~60 MB at 64x64).
EVAL_BATCH = 64
#: Weight initialisation of trained models: PyTorch's default, as the torch backend (cnnlab.nn.init).
INIT = "torch"
#: How the per-epoch generators are seeded (recorded in every checkpoint).
RNG_SCHEME = (
    "numpy.random.default_rng([seed, epoch]) for shuffle, augmentation and mixup, "
    "[seed, epoch, 1] for dropout"
)
#: Key prefix of the weight average's arrays inside ``last.npz``'s optimizer state.
_EMA = "ema."


@dataclass
class _Data:
    classes: list[str]
    x_train: np.ndarray  # (N, H, W, C) uint8
    y_train: np.ndarray  # (N,) int64
    x_val: np.ndarray  # (M, H, W, C) float, normalised
    y_val: np.ndarray  # (M,) int64
    channels: int
    skipped: list[tuple[str, str]]  # unreadable files the load skipped: (path, reason)


def _load_data(settings: TrainSettings, image_size: int, dtype: np.dtype) -> _Data:
    from cnnlab.data import load_dataset, normalize

    ds = load_dataset(settings.data, image_size=image_size)
    labels = ds.train.labels
    train_idx, val_idx = settings.split(labels)
    x_val = normalize(ds.train.images[val_idx]).astype(dtype, copy=False)
    return _Data(
        classes=list(ds.classes),
        x_train=ds.train.images[train_idx],
        y_train=labels[train_idx].astype(np.int64),
        x_val=x_val,
        y_val=labels[val_idx].astype(np.int64),
        channels=ds.channels,
        skipped=[(str(p), str(r)) for p, r in ds.skipped],
    )


def predict_logprobs(
    model: Sequential, x: np.ndarray, tta_flip: bool = False, batch_size: int = EVAL_BATCH
) -> np.ndarray:
    """Log-probabilities ``(N, K)`` of normalised images ``x (N, H, W, C)``, evaluation mode, in batches.

    With ``tta_flip`` the probabilities of each image and its horizontal mirror are averaged:
    ``log p = logaddexp(log p(x), log p(flip(x))) - log 2``. The model's mode is restored.
    """
    was_training = model.training
    model.eval()
    out = []
    try:
        for i in range(0, x.shape[0], batch_size):
            xb = x[i : i + batch_size]
            logp = log_softmax(model.forward(xb))
            if tta_flip:
                logp_flip = log_softmax(model.forward(np.ascontiguousarray(xb[:, :, ::-1, :])))
                logp = np.logaddexp(logp, logp_flip) - np.log(2.0).astype(logp.dtype)
            out.append(logp)
    finally:
        model.train(was_training)
        model.clear()
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=model.dtype)


def _evaluate(
    model: Sequential, x: np.ndarray, y: np.ndarray, tta_flip: bool
) -> tuple[float | None, float | None]:
    """(mean negative log-likelihood, accuracy) on (x, y); (None, None) for an empty split."""
    if y.size == 0:
        return None, None
    logp = predict_logprobs(model, x, tta_flip)
    loss = float(-np.mean(logp[np.arange(y.size), y], dtype=np.float64))
    return loss, float(np.mean(logp.argmax(axis=1) == y))


def _check_resumable(run: RunDir, settings: TrainSettings, callbacks: Callbacks) -> TrainSettings:
    """The run's own settings (from config.json), with a note for every field the caller set otherwise."""
    cfg = run.config
    if cfg.get("backend") != "numpy":
        raise RunDirError(
            f"{run.path} was trained by the {cfg.get('backend')!r} backend; resume it with that backend"
        )
    stored = TrainSettings.from_config(cfg)
    for field in ("model", "recipe", "image_size", "data", "dtype"):
        if getattr(stored, field) != getattr(settings, field):
            callbacks.on_message(f"resuming with the run's own {field} ({getattr(stored, field)!r})")
    stored.out, stored.resume, stored.overwrite = settings.out, True, False
    return stored


def _check_settings(settings: TrainSettings) -> None:
    """One clear line for each setting the trainer cannot use."""
    r = settings.recipe
    problems = []
    if settings.model not in ARCHITECTURES:
        problems.append(f"unknown model {settings.model!r}; choose one of {sorted(ARCHITECTURES)}")
    if settings.dtype not in ("float32", "float64"):
        problems.append(f"dtype must be float32 or float64, not {settings.dtype!r}")
    if settings.image_size is not None and settings.image_size < 1:
        problems.append(f"image_size must be a positive integer, got {settings.image_size}")
    if r.epochs < 1 or r.batch_size < 1:
        problems.append(f"epochs and batch_size must be >= 1, got {r.epochs} and {r.batch_size}")
    if not (math.isfinite(r.lr) and r.lr > 0):
        problems.append(f"the learning rate must be a positive number, got {r.lr}")
    if r.optimizer not in ("adam", "adamw", "sgd"):
        problems.append(f"unknown optimizer {r.optimizer!r}; choose adam, adamw or sgd")
    if r.schedule not in ("constant", "onecycle", "cosine"):
        problems.append(f"unknown schedule {r.schedule!r}; choose constant, onecycle or cosine")
    for name in ("dropout", "val_fraction", "label_smoothing"):
        if not 0.0 <= getattr(r, name) < 1.0:
            problems.append(f"{name} must be in [0, 1), got {getattr(r, name)}")
    if not (r.mixup >= 0 and math.isfinite(r.mixup)):
        problems.append(f"mixup must be a number >= 0 (0: off), got {r.mixup}")
    if not 0.0 <= r.ema < 1.0:
        problems.append(f"ema must be in [0, 1) (0: off), got {r.ema}")
    if r.weight_decay < 0:
        problems.append(f"weight_decay must be >= 0, got {r.weight_decay}")
    if problems:
        raise CnnlabError("; ".join(problems))


def train(settings: TrainSettings, callbacks: Callbacks | None = None) -> RunDir:
    """Train ``settings.model`` with ``settings.recipe`` in NumPy; returns the run directory.

    Raises :class:`cnnlab.errors.TrainingStopped` on a non-finite loss or Ctrl-C (checkpoint kept),
    :class:`cnnlab.errors.RunDirError` when ``settings.out`` cannot be used.
    """
    cb = callbacks or Callbacks()
    if settings.backend != "numpy":
        raise ValueError(f"cnnlab.nn.trainer trains the numpy backend, not {settings.backend!r}")
    resume_from: dict[str, Any] | None = None
    if settings.resume:
        run = RunDir.open(settings.out)
        settings = _check_resumable(run, settings, cb)
        last = run.checkpoint("last")
        if last.exists():
            resume_from = dict(zip(("params", "optimizer", "meta"), load_checkpoint(last), strict=True))
        else:
            cb.on_message(f"{last} does not exist yet; starting {run.path} from the first epoch")
    _check_settings(settings)
    recipe = settings.recipe
    image_size = settings.image_size or DEFAULT_IMAGE_SIZE[settings.model]
    dtype = np.dtype(settings.dtype)
    try:  # before any image is read
        output_shapes(get_architecture(settings.model), image_size)
    except ValueError as exc:
        raise CnnlabError(str(exc)) from None
    data = _load_data(settings, image_size, dtype)
    num_classes = len(data.classes)
    if data.y_train.size == 0:
        raise DataError("no training images left after the validation split")

    config = settings.to_config()
    config.update(
        backend="numpy",
        classes=data.classes,
        image_size=image_size,
        num_classes=num_classes,
        in_channels=data.channels,
        init=INIT,
        num_train=int(data.y_train.size),
        num_val=int(data.y_val.size),
        rng=RNG_SCHEME,
        skipped_files=data.skipped,
    )
    if not settings.resume:
        run = RunDir.create(settings.out, config, overwrite=settings.overwrite)

    model = build_model(
        settings.model,
        image_size,
        num_classes,
        recipe.dropout,
        dtype,
        seed=recipe.seed,
        init=INIT,
        in_channels=data.channels,
    )
    opt = make_optimizer(
        recipe.optimizer, model.parameters(), recipe.lr, recipe.weight_decay, recipe.momentum
    )
    atomic_write_text(run / "summary.txt", str(summarize(model)) + "\n")
    average = WeightAverage(model.parameters(), recipe.ema) if recipe.ema > 0 else None

    n_train, batch = int(data.y_train.size), recipe.batch_size
    steps = math.ceil(n_train / batch)
    total_steps = recipe.epochs * steps
    start_epoch, global_step = 1, 0
    best = {"epoch": 0, "val_acc": None, "val_loss": None}
    if resume_from is not None:
        model.load_state_dict(resume_from["params"])
        opt_state = resume_from["optimizer"]
        if average is not None:
            ema = {k[len(_EMA) :]: v for k, v in opt_state.items() if k.startswith(_EMA)}
            average.load_state_dict(ema or resume_from["params"])
        opt.load_state_dict({k: v for k, v in opt_state.items() if not k.startswith(_EMA)})
        meta = resume_from["meta"]
        start_epoch, global_step = int(meta["epoch"]) + 1, int(meta["step"])
        best = meta["best"]
        cb.on_message(f"resuming {run.path} after epoch {meta['epoch']}")
    cb.on_train_start(settings, n_train, int(data.y_val.size), start_epoch)
    if note := skipped_files_note(data.skipped):
        cb.on_message(note)

    epoch, saved = start_epoch, start_epoch - 1 if resume_from is not None else 0
    try:
        for epoch in range(start_epoch, recipe.epochs + 1):
            epoch_start = time.perf_counter()
            stats = _train_epoch(
                model, opt, data, settings, epoch, steps, global_step, total_steps, cb, average
            )
            global_step = stats["step"]
            row = _end_epoch(run, model, opt, data, epoch, stats, best, recipe, epoch_start, average)
            saved = epoch
            cb.on_epoch_end(row)
    except _NonFinite as stop:
        raise TrainingStopped(
            f"the training loss became {stop.loss} at epoch {epoch}, step {stop.step}; "
            f"{_kept(run, saved)}; try a lower learning rate"
        ) from None
    except KeyboardInterrupt:
        raise TrainingStopped(
            f"interrupted in epoch {epoch}; {_kept(run, saved)}; continue with --resume --out {run.path}"
        ) from None
    run.update_config(best_epoch=best["epoch"])
    return run


class _NonFinite(Exception):
    def __init__(self, loss: float, step: int):
        super().__init__(f"loss {loss} at step {step}")
        self.loss, self.step = loss, step


def _kept(run: RunDir, saved_epoch: int) -> str:
    if saved_epoch > 0:
        return f"kept the checkpoint of epoch {saved_epoch} in {run.checkpoint('last')}"
    return "no checkpoint was saved yet (it stopped in the first epoch)"


def _train_epoch(
    model: Sequential,
    opt: Optimizer,
    data: _Data,
    settings: TrainSettings,
    epoch: int,
    steps: int,
    global_step: int,
    total_steps: int,
    cb: Callbacks,
    average: WeightAverage | None = None,
) -> dict[str, Any]:
    """One pass over the shuffled training images (mixup and the weight average per the recipe).

    Returns ``{"step", "train_loss", "train_acc", "lr", "train_seconds"}``: the global step count after
    the epoch, the sample-weighted mean loss and accuracy of its mini-batches (training mode), and the
    learning rate of its last step.
    """
    from cnnlab.data import Augmenter, normalize
    from cnnlab.data.mixup import MixUp, mix

    recipe = settings.recipe
    dtype = model.dtype
    rng = np.random.default_rng([recipe.seed, epoch])
    order = rng.permutation(data.y_train.size)
    augment = None
    if recipe.augment:
        augment = Augmenter(
            seed=int(rng.integers(2**63)), pad=recipe.augment_pad, scale=(recipe.augment_scale, 1.0)
        )
    mixer = MixUp(recipe.mixup, seed=int(rng.integers(2**63))) if recipe.mixup > 0 else None
    num_classes = len(data.classes)
    model.set_rng(np.random.default_rng([recipe.seed, epoch, 1]))
    model.train()
    cb.on_epoch_start(epoch, recipe.epochs, steps)
    start = time.perf_counter()
    loss_sum, correct, b = 0.0, 0, recipe.batch_size
    lr = opt.lr
    for s in range(steps):
        idx = order[s * b : (s + 1) * b]
        images = data.x_train[idx]
        if augment is not None:
            images = augment(images)
        x = normalize(images).astype(dtype, copy=False)
        y = y_counted = data.y_train[idx]
        lr = opt.lr = learning_rate(recipe, global_step, total_steps)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is reported just below
            if mixer is None:
                logits = model.forward(x)
                loss, dlogits = softmax_cross_entropy(logits, y, recipe.label_smoothing)
            else:
                m = mixer.sample(y.size)
                logits = model.forward(mix(x, m).astype(dtype, copy=False))
                eps = recipe.label_smoothing
                target = m.lam * smoothed_targets(y, num_classes, eps, dtype) + (
                    1.0 - m.lam
                ) * smoothed_targets(y[m.perm], num_classes, eps, dtype)
                loss, dlogits = soft_cross_entropy(logits, target)
                y_counted = y if m.dominant else y[m.perm]
        if not math.isfinite(loss):
            raise _NonFinite(loss, s + 1)
        model.backward(dlogits, input_grad=False)
        opt.step(model.gradients())
        if average is not None:
            average.update(model.parameters())
        global_step += 1
        hits = int(np.sum(logits.argmax(axis=1) == y_counted))
        loss_sum += loss * y.size
        correct += hits
        cb.on_step(s + 1, loss, hits / y.size, int(y.size))
    n = data.y_train.size
    return {
        "step": global_step,
        "train_loss": loss_sum / n,
        "train_acc": correct / n,
        "lr": lr,
        "train_seconds": time.perf_counter() - start,
    }


def _improved(val_acc: float | None, val_loss: float | None, best: dict[str, Any]) -> bool:
    """Higher validation accuracy, or equal accuracy and lower loss; always True without validation."""
    if val_acc is None or best["val_acc"] is None:
        return True
    return val_acc > best["val_acc"] or (val_acc == best["val_acc"] and val_loss < best["val_loss"])


def _end_epoch(
    run: RunDir,
    model: Sequential,
    opt: Optimizer,
    data: _Data,
    epoch: int,
    stats: dict[str, Any],
    best: dict[str, Any],
    recipe: Recipe,
    epoch_start: float,
    average: WeightAverage | None = None,
) -> dict[str, Any]:
    """Validate, write the metrics row and the checkpoints; updates ``best`` in place; returns the row.

    With a weight average, the averaged weights are validated and saved as the model's.
    """
    params = model.state_dict()
    if average is not None:  # evaluate the average in the model's layers, then put the weights back
        model.load_state_dict(average.shadow)
    try:
        val_loss, val_acc = _evaluate(model, data.x_val, data.y_val, recipe.tta_flip)
    finally:
        if average is not None:
            model.load_state_dict(params)
    row = {
        "epoch": epoch,
        "train_loss": stats["train_loss"],
        "train_acc": stats["train_acc"],
        "val_loss": val_loss,
        "val_acc": val_acc,
        "lr": stats["lr"],
        "seconds": time.perf_counter() - epoch_start,
        "images_per_s": data.y_train.size / max(stats["train_seconds"], 1e-9),
    }
    meta = {"epoch": epoch, "step": stats["step"], "seed": recipe.seed, "rng": RNG_SCHEME}
    opt_state = opt.state_dict()
    if average is not None:
        opt_state.update({_EMA + k: v for k, v in average.shadow.items()})
    if _improved(val_acc, val_loss, best):
        best.update(epoch=epoch, val_acc=val_acc, val_loss=val_loss)
        weights = average.state_dict() if average is not None else params
        save_checkpoint(run.checkpoint("best"), weights, {**meta, "best": best})
    save_checkpoint(run.checkpoint("last"), params, {**meta, "best": best}, opt_state)
    run.append_metrics(row)
    return row
