"""``cnnlab cv``: k-fold cross-validation of a recipe on the training images (the test set is not used).

Trains one run per fold into ``OUT/fold-<k>`` with any backend (:mod:`cnnlab.training.crossval`, the
public fit loop), shows each fold's progress (a live bar on a terminal, else every tenth epoch's line),
prints one line per fold and the mean and spread of the final-epoch validation accuracy, and writes
``OUT/cv.json``. This is how recipes are compared on a few hundred images: every training image is
validated once, so the mean is far steadier than a single small hold-out split.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cnnlab.cli.app import app
from cnnlab.cli.choices import Backend, Device, DType, Model, RecipeName
from cnnlab.cli.train import ProgressCallbacks
from cnnlab.engine.settings import TrainSettings
from cnnlab.errors import TrainingStopped

EPILOG = """Examples:

  cnnlab cv --backend torch --data data/cats-and-dogs --folds 5 --out runs/cv-improved

  cnnlab cv --recipe lab --folds 3 --epochs 20 --out runs/cv-lab

  cnnlab cv --out runs/cv-improved --resume   (continue after Ctrl-C, with the settings it began with)
"""


class FoldProgress(ProgressCallbacks):
    """The progress of each fold: its training line, a live bar per epoch, every tenth epoch's line."""

    def on_train_start(self, settings: TrainSettings, num_train: int, num_val: int, start_epoch: int) -> None:
        self.every = max(1, settings.recipe.epochs // 10)
        super().on_train_start(settings, num_train, num_val, start_epoch)


@app.command(epilog=EPILOG)
def cv(
    folds: Annotated[int, typer.Option(min=2, help="Number of folds.")] = 5,
    backend: Annotated[
        Backend | None, typer.Option(help="numpy or torch. Default: numpy.", show_default=False)
    ] = None,
    model: Annotated[Model | None, typer.Option(help="Default: cnn.", show_default=False)] = None,
    recipe: Annotated[RecipeName | None, typer.Option(help="Default: improved.", show_default=False)] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Image folder. Default: the built-in dataset.", show_default=False),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Epochs. Default: the recipe's.", show_default=False)
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Mini-batch size. Default: the recipe's.", show_default=False)
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help="Peak learning rate. Default: the recipe's.", show_default=False)
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed of the folds, weights and augmentation. Default: 2023.", show_default=False),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Directory of the fold runs. Default: runs/cv-MODEL-BACKEND-RECIPE.", show_default=False
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Keep finished folds, resume a cut one, train the rest.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the folds in --out.")] = False,
    device: Annotated[
        Device | None, typer.Option(help="torch only: where to train. Default: auto.", show_default=False)
    ] = None,
    dtype: Annotated[
        DType | None, typer.Option(help="numpy only: float precision. Default: float32.", show_default=False)
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1, help="CPU threads. Default: the backend's (see cnnlab train --help).", show_default=False
        ),
    ] = None,
) -> None:
    """Cross-validate a recipe: one run per fold of the training images, then the mean validation accuracy."""
    from cnnlab.cli.train import build_settings
    from cnnlab.errors import CnnlabError
    from cnnlab.training.crossval import stored_settings

    if resume and overwrite:
        raise CnnlabError("--resume and --overwrite contradict each other; pass one")
    if resume:
        if out is None:
            raise CnnlabError("--resume needs --out DIR (the cross-validation to continue)")
        given = [
            name
            for name, value in (
                ("backend", backend),
                ("model", model),
                ("recipe", recipe),
                ("data", data),
                ("epochs", epochs),
                ("batch-size", batch_size),
                ("lr", lr),
                ("seed", seed),
                ("dtype", dtype),
            )
            if value is not None
        ]
        if given:
            raise CnnlabError(
                f"a resumed cross-validation keeps the settings in {out / 'cv.json'}; drop --"
                + ", --".join(given)
            )
        settings, folds = stored_settings(out)
        settings.resume, settings.overwrite, settings.threads = True, False, threads
        if device is not None:
            settings.device = device.value
        _run(settings, folds)
        return
    settings = build_settings(
        backend=backend,
        model=model,
        recipe=recipe,
        data=data,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        image_size=None,
        seed=seed,
        out=out,
        resume=False,
        overwrite=overwrite,
        device=device,
        dtype=dtype,
        threads=threads,
    )
    if out is None:
        settings.out = Path("runs") / f"cv-{settings.model}-{settings.backend}-{settings.recipe.name}"
    _run(settings, folds)


def _run(settings: TrainSettings, folds: int) -> None:
    from cnnlab.cli.train import stopped_line
    from cnnlab.training.crossval import cross_validate

    print(
        f"cross-validating {settings.model} ({settings.backend}, recipe {settings.recipe.name}, "
        f"{settings.recipe.epochs} epochs) on {folds} folds of the training images",
        flush=True,
    )

    def report(fold, total):
        print(
            f"fold {fold.fold}/{total}: validation accuracy {100 * fold.final_val_acc:.1f}% "
            f"at the last epoch (best {100 * fold.best_val_acc:.1f}% at epoch {fold.best_epoch}) "
            f"on {fold.num_val} images, {fold.seconds:.0f} s",
            flush=True,
        )

    progress = FoldProgress()
    try:
        result = cross_validate(settings, folds, callbacks=progress, on_fold=report)
    except TrainingStopped as exc:
        progress.close()
        line = stopped_line(exc, "cnnlab cv").replace(f"--out {exc.run}", f"--out {settings.out}")
        print(line.replace("training stopped", "cross-validation stopped"), file=sys.stderr)
        raise typer.Exit(130 if exc.reason == TrainingStopped.INTERRUPTED else 1) from None
    finally:
        progress.close()
    print(
        f"cross-validation: {100 * result.mean:.1f} ± {100 * result.std:.1f}% "
        f"(final-epoch validation accuracy, mean ± sd over {folds} folds); {settings.out / 'cv.json'}"
    )
