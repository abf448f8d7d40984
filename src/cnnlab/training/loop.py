"""The fit loop: one training run with any backend, ``fit(settings, callbacks) -> RunDir``.

Every policy of a run lives here, once; a backend (:mod:`cnnlab.backends`) only supplies an engine
(:class:`cnnlab.engine.protocol.Engine`: build, one epoch, evaluate, state, save/load).

1. **Check** the settings (:func:`cnnlab.engine.settings.settings_problems` and the backend's own):
   every problem is one line, found before anything is read or written. ``resume``: the run keeps the
   settings in its ``config.json`` (:func:`cnnlab.engine.settings.resumed_settings`); otherwise the
   output directory must be new or ``overwrite`` given (:meth:`cnnlab.rundir.RunDir.check_new`).
2. **Data**: :func:`cnnlab.data.load_dataset`, the split of :meth:`TrainSettings.split` (the test split
   is never touched), and the data's fingerprint (file list and sizes): on ``resume`` a changed dataset
   is refused unless ``allow_data_change``.
3. **Run directory**: created (or reopened) and locked for the whole run, so a second training (an
   ``overwrite`` included) cannot write it at the same time. ``config.json`` has one schema for every
   backend (:data:`CONFIG_KEYS`); backend-specific facts sit under ``"backend_info"``.
4. **Epochs** ``start..recipe.epochs``: the engine trains one epoch (the learning rate of step ``t`` is
   :func:`cnnlab.recipes.learning_rate` at ``t = (epoch - 1) * steps + s``) and evaluates; the loop
   applies the best rule (:func:`improved`), builds the metrics row and snapshots the state.
5. **Commits**: ``best`` (when improved), then ``last`` (weights, optimizer, RNG, the best so far and
   every metrics row), then ``metrics.csv``, each atomic. ``last`` is the commit point: on ``resume``
   ``metrics.csv`` is rewritten from it, so a stop anywhere between the files loses nothing and the
   kept epoch is what ``last`` says. Commits happen after the first and the final epoch, at most every
   :data:`SAVE_EVERY_S` seconds in between, and on a stop (a hard kill loses at most that much).
6. **Stops**: Ctrl-C or a non-finite loss commits the last finished epoch and raises
   :class:`cnnlab.errors.TrainingStopped` with fields (``reason``, ``epoch``, ``epoch_kept``...).
   ``resume`` continues exactly: ``metrics.csv`` is then identical to an uninterrupted run's (timings
   aside). A run stopped in its first epoch resumes from epoch 1.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from cnnlab.architectures import DEFAULT_IMAGE_SIZE, get_architecture, output_shapes
from cnnlab.backends import Backend, backend_or_error
from cnnlab.engine.protocol import Engine, NonFiniteLoss, Runtime, TrainData
from cnnlab.engine.settings import TrainSettings, resumed_settings, settings_problems
from cnnlab.errors import CnnlabError, DataError, RunDirError, TrainingStopped
from cnnlab.rundir import RunDir
from cnnlab.training.callbacks import Callbacks, skipped_files_note

#: Write checkpoints at most this often (seconds), besides the first and final epoch and a stop.
SAVE_EVERY_S = 10.0
#: Version of the loop's part of a checkpoint's metadata.
STATE_FORMAT = 2
#: The keys of every run's config.json, whatever the backend (``best_epoch`` is null until the end).
CONFIG_KEYS = frozenset(
    {
        *TrainSettings.__dataclass_fields__,
        "versions",
        "command",
        "classes",
        "num_classes",
        "channels",
        "num_train",
        "num_val",
        "skipped_files",
        "data_fingerprint",
        "checkpoint_suffix",
        "backend_info",
        "best_epoch",
    }
)


def is_main_process() -> bool:
    """False in the processes of a ``torchrun`` job other than rank 0 (which alone writes and reports)."""
    return int(os.environ.get("RANK", "0")) == 0


def improved(val_acc: float | None, val_loss: float | None, best: dict[str, Any]) -> bool:
    """The best rule: higher validation accuracy, or equal accuracy and lower validation loss.

    Always True without a validation split (``val_acc is None``): "best" is then the last epoch.
    """
    if val_acc is None or best.get("val_acc") is None:
        return True
    return val_acc > best["val_acc"] or (val_acc == best["val_acc"] and val_loss < best["val_loss"])


def fit(settings: TrainSettings, callbacks: Callbacks | None = None) -> RunDir:
    """Train ``settings.model`` with ``settings.recipe`` on ``settings.backend``; return the run directory.

    Raises :class:`CnnlabError` (one line) for bad settings or data before anything is written,
    :class:`RunDirError` for an output directory that cannot be used (or resumed, or is locked), and
    :class:`TrainingStopped` on Ctrl-C or a non-finite loss (the last finished epoch is kept).
    """
    cb = callbacks or Callbacks()
    backend = backend_or_error(settings.backend)
    problems = settings_problems(settings) + backend.problems(settings)
    if problems:
        raise CnnlabError("; ".join(problems))
    stored: dict[str, Any] | None = None
    if settings.resume:
        run = RunDir.open(settings.out)
        stored = run.config
        if stored.get("backend") != backend.name:
            raise RunDirError(
                f"{run.path} was trained by the {stored.get('backend')!r} backend; "
                f"resume it with --backend {stored.get('backend')}"
            )
        settings = resumed_settings(settings, stored)
    else:
        RunDir.check_new(settings.out, settings.overwrite)
    image_size = settings.image_size or DEFAULT_IMAGE_SIZE[settings.model]
    try:
        output_shapes(get_architecture(settings.model), image_size)
    except ValueError as exc:
        raise CnnlabError(str(exc)) from None
    if settings.data is not None and not Path(settings.data).is_dir():
        raise DataError(f"data directory {settings.data} does not exist")
    runtime = backend.start(settings)
    try:
        return _fit(settings, backend, runtime, image_size, stored, cb)
    finally:
        runtime.close()


def _load(settings: TrainSettings, image_size: int) -> tuple[TrainData, Any]:
    from cnnlab.data import load_dataset

    ds = load_dataset(settings.data, image_size=image_size)
    labels = ds.train.labels
    train_idx, val_idx = settings.split(labels)
    if train_idx.size == 0:
        raise DataError("no training images left after the validation split")
    data = TrainData(
        classes=list(ds.classes),
        train_images=ds.train.images[train_idx],
        train_labels=labels[train_idx].astype("int64"),
        val_images=ds.train.images[val_idx],
        val_labels=labels[val_idx].astype("int64"),
        image_size=image_size,
    )
    return data, ds


def _describe(fp: dict[str, Any]) -> str:
    return f"{fp.get('files')} files, {fp.get('bytes')} bytes"


def _check_data(run_path: Path, stored: dict[str, Any], now: dict[str, Any], settings: TrainSettings) -> bool:
    """True if the data changed (and that is allowed); a one-line DataError if it changed otherwise."""
    then = stored.get("data_fingerprint") or {}
    if then.get("sha256") == now.get("sha256"):
        return False
    if not settings.allow_data_change:
        raise DataError(
            f"the data changed since {run_path} began ({_describe(then)} then, {_describe(now)} now); "
            "resume with --allow-data-change to continue on the new files, or start a new run"
        )
    return True


def _config(
    settings: TrainSettings, backend: Backend, runtime: Runtime, data: TrainData, ds: Any
) -> dict[str, Any]:
    cfg = settings.to_config()
    cfg.update(
        image_size=data.image_size,
        classes=data.classes,
        num_classes=data.num_classes,
        channels=data.channels,
        num_train=int(data.train_labels.size),
        num_val=int(data.val_labels.size),
        skipped_files=[(str(p), str(r)) for p, r in ds.skipped],
        data_fingerprint=ds.fingerprint,
        checkpoint_suffix=backend.suffix,
        backend_info=runtime.facts(),
        best_epoch=None,
    )
    assert set(cfg) == CONFIG_KEYS, sorted(set(cfg) ^ CONFIG_KEYS)
    return cfg


def _fit(
    settings: TrainSettings,
    backend: Backend,
    runtime: Runtime,
    image_size: int,
    stored: dict[str, Any] | None,
    cb: Callbacks,
) -> RunDir:
    data, ds = _load(settings, image_size)
    data_changed = stored is not None and _check_data(settings.out, stored, ds.fingerprint, settings)
    engine = runtime.build(settings, data)
    config = _config(settings, backend, runtime, data, ds)
    run, error = RunDir(settings.out), None
    if runtime.main:
        try:
            if settings.resume:
                run = RunDir.open(settings.out).lock()
                if data_changed:
                    run.update_config(data_fingerprint=ds.fingerprint, num_train=config["num_train"])
            else:
                run = RunDir.create(settings.out, config, overwrite=settings.overwrite, lock=True)
        except CnnlabError as exc:
            error = exc
    error = runtime.agree(error)
    if error is not None:
        run.unlock()
        raise error
    try:
        return _epochs(settings, run, engine, runtime, data, ds, cb, data_changed)
    finally:
        run.unlock()


class _Commits:
    """The pending state of the last finished epoch and its writes (see the module docstring, 5)."""

    def __init__(self, run: RunDir, engine: Engine, fingerprint: dict[str, Any], kept: int):
        self.run, self.engine, self.fingerprint = run, engine, fingerprint
        self.kept = kept  # the epoch the files hold
        self.pending: dict[str, Any] | None = None
        self.pending_best: tuple[dict[str, Any], dict[str, Any]] | None = None
        self.written_at = -math.inf

    def stage(self, epoch: int, best: dict[str, Any], rows: list[dict[str, Any]], is_best: bool) -> None:
        state = self.engine.snapshot()
        meta = {
            "format": STATE_FORMAT,
            "epoch": epoch,
            "best": dict(best),
            "rows": [dict(r) for r in rows],
            "data_fingerprint": self.fingerprint,
        }
        if is_best:
            self.pending_best = (self.engine.best_weights(state), {**meta, "rows": []})
        self.pending = {"state": state, "meta": meta}

    def due(self, force: bool) -> bool:
        return force or time.perf_counter() - self.written_at >= SAVE_EVERY_S

    def write(self) -> None:
        if self.pending_best is not None:
            weights, meta = self.pending_best
            self.engine.save(self.run.checkpoint("best"), weights, meta)
            self.pending_best = None
        if self.pending is not None:
            meta = self.pending["meta"]
            self.engine.save(self.run.checkpoint("last"), self.pending["state"], meta)
            self.run.write_metrics(meta["rows"])
            self.kept = int(meta["epoch"])
            self.pending = None
        self.written_at = time.perf_counter()


def _resume_state(run: RunDir, engine: Engine, cb: Callbacks) -> dict[str, Any] | None:
    """The metadata of ``last`` after restoring it into ``engine``; None when no epoch had finished."""
    last = run.checkpoint("last")
    if not last.exists():
        if run.metrics() or run.checkpoint("best").exists():
            raise RunDirError(
                f"{last} is missing but {run.path} has finished epochs (metrics.csv, "
                f"{run.checkpoint('best').name}); it cannot be resumed exactly: start a new run"
            )
        cb.on_message(f"{run.path} has no finished epoch yet; starting it from epoch 1")
        return None
    state, meta = engine.load(last)
    if meta.get("format") != STATE_FORMAT:
        raise RunDirError(f"{last}: unknown checkpoint format {meta.get('format')!r}; train it again")
    try:
        engine.restore(state)
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise RunDirError(f"{last} does not fit this model and recipe: {exc}") from None
    return meta


def _epochs(
    settings: TrainSettings,
    run: RunDir,
    engine: Engine,
    runtime: Runtime,
    data: TrainData,
    ds: Any,
    cb: Callbacks,
    data_changed: bool,
) -> RunDir:
    main = runtime.main
    recipe = settings.recipe
    start_epoch, best, rows = 1, {"epoch": 0, "val_acc": None, "val_loss": None}, []
    if main and not settings.resume:
        from cnnlab.rundir import atomic_write_text

        atomic_write_text(run / "summary.txt", engine.summary())
    if settings.resume:
        meta = _resume_state(run, engine, cb)
        if meta is not None:
            start_epoch, best, rows = int(meta["epoch"]) + 1, meta["best"], meta["rows"]
            if main:
                run.write_metrics(rows)  # what last holds: a row written after it is not kept
                cb.on_message(f"resuming {run.path} after epoch {meta['epoch']}")
    commits = _Commits(run, engine, ds.fingerprint, start_epoch - 1)
    steps = engine.steps_per_epoch
    total_steps = recipe.epochs * steps
    if main:
        cb.on_train_start(settings, int(data.train_labels.size), int(data.val_labels.size), start_epoch)
        if note := skipped_files_note(ds.skipped):
            cb.on_message(note)
        if data_changed:
            cb.on_message("the data changed since the run began; continuing on the new files as asked")
    on_step = cb.on_step if main else (lambda *a: None)
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, recipe.epochs + 1):
            t0 = time.perf_counter()
            if main:
                cb.on_epoch_start(epoch, recipe.epochs, steps)
            stats = engine.train_epoch(epoch, (epoch - 1) * steps, total_steps, on_step)
            val_loss, val_acc = engine.evaluate()
            is_best = improved(val_acc, val_loss, best)
            if is_best:
                best = {"epoch": epoch, "val_acc": val_acc, "val_loss": val_loss}
            row = {
                "epoch": epoch,
                "train_loss": stats.train_loss,
                "train_acc": stats.train_acc,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "lr": stats.lr,
                "seconds": time.perf_counter() - t0,
                "images_per_s": stats.images / stats.seconds if stats.seconds > 0 else None,
            }
            rows.append(row)
            if main:
                commits.stage(epoch, best, rows, is_best)
                if commits.due(force=epoch in (start_epoch, recipe.epochs)):
                    commits.write()
                cb.on_epoch_end(row)
    except NonFiniteLoss as stop:
        if main:
            commits.write()
        raise TrainingStopped(
            TrainingStopped.NON_FINITE, epoch, commits.kept, run.path, stop.step, stop.loss
        ) from None
    except KeyboardInterrupt:
        if main:
            commits.write()
        raise TrainingStopped(TrainingStopped.INTERRUPTED, epoch, commits.kept, run.path) from None
    if main:
        commits.write()
        run.update_config(best_epoch=best["epoch"])
    return run
