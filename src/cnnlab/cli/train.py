"""``cnnlab train``: train a model with either backend into a run directory, then evaluate and report.

The command builds a :class:`cnnlab.training.TrainSettings` from its options (the recipe's values unless
overridden), runs the fit loop (:func:`cnnlab.training.loop.fit`) with a live progress bar per epoch
(:class:`ProgressCallbacks`), and on success calls :func:`cnnlab.runs.finish_run` for the test metrics,
the plots and ``report.html``. Ctrl-C or a non-finite loss stops training with the last good checkpoint
kept; ``--resume`` continues from it. Under ``torchrun --nproc_per_node=N -m cnnlab train --backend
torch`` every process runs this command; only rank 0 prints, writes and reports.
"""

from __future__ import annotations

import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from cnnlab.cli.app import app
from cnnlab.cli.choices import Backend, Device, DType, Model, RecipeName
from cnnlab.engine.settings import TrainSettings
from cnnlab.errors import CnnlabError, DataError, TrainingStopped
from cnnlab.training.callbacks import Callbacks


def _fmt_time(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def epoch_line(row: dict[str, Any], epochs: int) -> str:
    """One epoch as a line: ``epoch  3/20  train loss 0.5120 acc 74.1%  val loss ... 812 img/s``."""
    width = len(str(epochs))
    parts = [f"epoch {int(row['epoch']):>{width}}/{epochs}"]
    parts.append(f"train loss {row['train_loss']:.4f} acc {100 * row['train_acc']:5.1f}%")
    if row.get("val_loss") is not None and row.get("val_acc") is not None:
        parts.append(f"val loss {row['val_loss']:.4f} acc {100 * row['val_acc']:5.1f}%")
    if row.get("lr") is not None:
        parts.append(f"lr {row['lr']:.2e}")
    if row.get("seconds") is not None:
        parts.append(f"{row['seconds']:.1f} s")
    if row.get("images_per_s"):
        parts.append(f"{row['images_per_s']:,.0f} img/s")
    return "  ".join(parts)


class ProgressCallbacks(Callbacks):
    """Training progress on the terminal: a live bar per epoch (``rich``) and one line per finished epoch.

    The bar shows the running loss and accuracy of the epoch (means over the images seen so far),
    images per second and the epoch's ETA. When stdout is not a terminal (a log file, CI) only the
    plain per-epoch lines and messages are printed.
    """

    def __init__(self, console: Any = None, live: bool | None = None, every: int = 1):
        from rich.console import Console

        self.console = console or Console(highlight=False)
        self.live = self.console.is_terminal if live is None else live
        self.every = max(1, int(every))  # print every n-th epoch's line (and the last) when not live
        self.progress: Any = None
        self.task: Any = None
        self.epochs = 0
        self._reset()

    def _reset(self) -> None:
        self._loss_sum = self._correct = 0.0
        self._images = 0
        self._t0 = time.perf_counter()

    def _print(self, text: str, style: str | None = None) -> None:
        if self.live:
            self.console.print(text, style=style, markup=False, highlight=False)
        else:
            print(text, flush=True)

    # -- Callbacks ----------------------------------------------------------------------------------
    def on_train_start(self, settings: TrainSettings, num_train: int, num_val: int, start_epoch: int) -> None:
        recipe = settings.recipe
        data = settings.data or "the built-in dataset"
        val = f" + {num_val} validation" if num_val else ""
        if start_epoch > recipe.epochs:
            where = f"all {recipe.epochs} epochs are done"
        elif start_epoch > 1:
            where = f"epochs {start_epoch}-{recipe.epochs}"
        else:
            where = f"{recipe.epochs} epochs"
        self._print(
            f"training {settings.model} ({settings.backend}, recipe {recipe.name}) on {num_train} train{val} "
            f"images of {data}: {where}, batch {recipe.batch_size}, lr {recipe.lr:g} -> {settings.out}"
        )
        self.epochs = recipe.epochs
        self._run_t0 = time.perf_counter()
        self._first_epoch = start_epoch
        if self.live and self.progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=30),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:5.1f}%"),
                TextColumn("{task.fields[ips]:>7,.0f} img/s"),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.progress.start()

    def on_epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        self.epochs = epochs
        self._reset()
        if self.progress is not None:
            width = len(str(epochs))
            self.task = self.progress.add_task(
                f"epoch {epoch:>{width}}/{epochs}", total=steps, loss=0.0, acc=0.0, ips=0.0
            )

    def on_step(self, step: int, loss: float, acc: float, images: int) -> None:
        self._loss_sum += loss * images
        self._correct += acc * images
        self._images += images
        if self.progress is not None and self.task is not None:
            elapsed = max(time.perf_counter() - self._t0, 1e-9)
            self.progress.update(
                self.task,
                advance=1,
                loss=self._loss_sum / self._images,
                acc=100 * self._correct / self._images,
                ips=self._images / elapsed,
            )

    def on_epoch_end(self, row: dict[str, Any]) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        line = epoch_line(row, self.epochs)
        done = int(row["epoch"]) - self._first_epoch + 1
        left = self.epochs - int(row["epoch"])
        if left > 0 and done > 0:
            eta = (time.perf_counter() - self._run_t0) / done * left
            if eta >= 1:
                line += f"  (run eta {_fmt_time(eta)})"
        if self.live or left == 0 or int(row["epoch"]) % self.every == 0:
            self._print(line)

    def on_message(self, text: str) -> None:
        self._print(text, style="dim")

    def close(self) -> None:
        """Stop the live display (idempotent)."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _explicit(**options: Any) -> dict[str, Any]:
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in options.items() if v is not None}


def build_settings(
    *,
    backend: str | Enum | None,
    model: str | Enum | None,
    recipe: str | Enum | None,
    data: Path | None,
    epochs: int | None,
    batch_size: int | None,
    lr: float | None,
    image_size: int | None,
    seed: int | None,
    out: Path | None,
    resume: bool,
    overwrite: bool,
    device: str | Enum | None,
    dtype: str | Enum | None,
    val_fraction: float | None = None,
    threads: int | None = None,
    allow_data_change: bool = False,
) -> TrainSettings:
    """The settings of a new run from the options given, or of the run to resume.

    New run: the recipe's values (``improved`` by default) with ``--epochs``/``--batch-size``/``--lr``/
    ``--seed``/``--val-fraction`` overriding them. ``--resume``: the settings saved in ``OUT/config.json``;
    options given must agree with them except ``--device``, ``--threads`` and ``--allow-data-change``
    (:func:`cnnlab.engine.settings.resumed_settings`, the one rule the fit loop applies too). Choices may
    be given as the CLI's enums or as strings; a data directory that does not exist is an error.
    """
    from dataclasses import replace

    from cnnlab.engine.settings import resumed_settings
    from cnnlab.recipes import get_recipe
    from cnnlab.rundir import RunDir

    backend, model, recipe, device, dtype = (
        v.value if isinstance(v, Enum) else v for v in (backend, model, recipe, device, dtype)
    )
    if resume and overwrite:
        raise CnnlabError("--resume and --overwrite contradict each other; pass one")
    if val_fraction is not None and not 0.0 <= val_fraction < 1.0:
        raise CnnlabError(f"--val-fraction must be in [0, 1), not {val_fraction}")
    if lr is not None and not lr > 0:  # also rejects nan
        raise CnnlabError(f"--lr must be a positive number, not {lr}")
    if threads is not None and threads < 1:
        raise CnnlabError(f"--threads must be at least 1, not {threads}")
    tuned = _explicit(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, val_fraction=val_fraction)
    if resume:
        if out is None:
            raise CnnlabError("--resume needs --out RUN_DIR (the run to continue)")
        stored = RunDir.open(out).config
        saved = TrainSettings.from_config(stored)
        base = get_recipe(recipe) if recipe is not None and recipe != saved.recipe.name else saved.recipe
        given = replace(
            saved,
            backend=backend or saved.backend,
            model=model or saved.model,
            recipe=base.with_overrides(**tuned),
            image_size=image_size or saved.image_size,
            data=str(data) if data is not None else saved.data,
            dtype=dtype or saved.dtype,
            device=device or saved.device,
            out=Path(out),
            resume=True,
            overwrite=False,
            threads=threads,
            allow_data_change=allow_data_change,
        )
        return _data_exists(resumed_settings(given, stored))

    chosen = get_recipe(recipe or "improved").with_overrides(**tuned)
    backend = backend or "numpy"
    model = model or "cnn"
    new = TrainSettings(
        backend=backend,
        model=model,
        recipe=chosen,
        image_size=image_size,
        data=str(data) if data is not None else None,
        out=Path(out) if out is not None else Path("runs") / f"{model}-{backend}-{chosen.name}",
        device=device or "auto",
        dtype=dtype or "float32",
        resume=False,
        overwrite=overwrite,
        threads=threads,
        allow_data_change=allow_data_change,
    )
    return _data_exists(new)


def _data_exists(settings: TrainSettings) -> TrainSettings:
    if settings.data is not None and not Path(settings.data).is_dir():
        raise DataError(f"data directory {settings.data} does not exist")
    return settings


def stopped_line(exc: TrainingStopped, command: str = "cnnlab train") -> str:
    """The one line printed when training stops, from the exception's fields (never its text)."""
    msg = str(exc).rstrip(".")
    if exc.epoch_kept > 0:
        return f"cnnlab: training stopped: {msg}; continue with: {command} --out {exc.run} --resume"
    return f"cnnlab: training stopped: {msg}; {command} --out {exc.run} --resume starts it from epoch 1"


EPILOG = """Examples:

  cnnlab train --out runs/cnn   (cnn model, improved recipe, built-in data)

  cnnlab train --recipe lab --data data/cats-and-dogs --out runs/lab

  cnnlab train --model simple --epochs 5 --out runs/quick

  cnnlab train --out runs/cnn --resume   (continue after Ctrl-C)

  cnnlab train --backend torch --device cuda --out runs/gpu

  torchrun --standalone --nproc_per_node=2 -m cnnlab train --backend torch --out runs/ddp
"""


@app.command(epilog=EPILOG)
def train(
    backend: Annotated[
        Backend | None,
        typer.Option(help="numpy (the lab's framework) or torch. Default: numpy.", show_default=False),
    ] = None,
    model: Annotated[
        Model | None,
        typer.Option(
            help="The lab's exercise-8 model or its CNNClassifier. Default: cnn.", show_default=False
        ),
    ] = None,
    recipe: Annotated[
        RecipeName | None,
        typer.Option(
            help="lab: the lab's Part 2 exactly; improved: "
            "augmentation, dropout, AdamW, one-cycle. "
            "Default: improved.",
            show_default=False,
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Image folder (one sub-folder per class, or train/ and "
            "test/). Default: the built-in dataset.",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(min=1, help="Epochs. Default: the recipe's.", show_default=False),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Mini-batch size. Default: the recipe's.", show_default=False)
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(help="Peak learning rate. Default: the recipe's.", show_default=False),
    ] = None,
    image_size: Annotated[
        int | None,
        typer.Option(
            min=4,
            help="Side of the square input images. Default: 16 for simple, 64 for cnn.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of weights, shuffling and augmentation. Default: the recipe's, 2023.",
            show_default=False,
        ),
    ] = None,
    val_fraction: Annotated[
        float | None,
        typer.Option(
            help="Share of each class of train held out for validation (best checkpoint, curves). "
            "Default: the recipe's (0 for both: improved was chosen by cnnlab cv).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Run directory to write. Default: runs/MODEL-BACKEND-RECIPE.", show_default=False),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the run in --out.")] = False,
    device: Annotated[
        Device | None, typer.Option(help="torch only: where to train. Default: auto.", show_default=False)
    ] = None,
    dtype: Annotated[
        DType | None, typer.Option(help="numpy only: float precision. Default: float32.", show_default=False)
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="CPU threads (NumPy ops or PyTorch intra-op). Default: the backend's (torch: 1 per "
            "process, measured fastest on a shared machine; numpy: the CPUs, at most 8).",
            show_default=False,
        ),
    ] = None,
    allow_data_change: Annotated[
        bool,
        typer.Option(
            "--allow-data-change", help="With --resume: continue even though the data's files changed."
        ),
    ] = False,
    report: Annotated[
        bool,
        typer.Option(help="Evaluate on the test split and write the plots and report.html after training."),
    ] = True,
) -> None:
    """Train a model into a run directory; then evaluate it on the test split and write report.html."""
    from cnnlab.training.loop import fit, is_main_process

    settings = build_settings(
        backend=backend,
        model=model,
        recipe=recipe,
        data=data,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        image_size=image_size,
        seed=seed,
        out=out,
        resume=resume,
        overwrite=overwrite,
        device=device,
        dtype=dtype,
        val_fraction=val_fraction,
        threads=threads,
        allow_data_change=allow_data_change,
    )
    callbacks = ProgressCallbacks(live=None if is_main_process() else False)
    try:
        run = fit(settings, callbacks)
    except TrainingStopped as exc:
        callbacks.close()
        if is_main_process():
            print(stopped_line(exc), file=sys.stderr)
        raise typer.Exit(130 if exc.reason == TrainingStopped.INTERRUPTED else 1) from None
    finally:
        callbacks.close()
    if not is_main_process():
        return
    if not report:
        print(f"run written to {run.path}")
        return
    from cnnlab.runs import finish_run

    print("evaluating on the test split and writing the report...", flush=True)
    page = finish_run(run)
    test = run.test_metrics or {}
    acc = test.get("accuracy")
    if acc is not None:
        print(f"test accuracy {100 * acc:.2f}% on {test.get('num_samples')} images")
    from cnnlab.runs.report import run_notes

    for note in run_notes(run.config, run.metrics(), test):
        print(f"note: {note}")
    print(f"report: {page}")
