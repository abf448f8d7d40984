"""K-fold cross-validation on the training images: how recipes are compared without the test set.

``cross_validate(settings, folds)`` trains ``folds`` runs with :func:`cnnlab.training.loop.fit` (any
backend); run ``k`` holds
out fold ``k`` of a stratified partition of the *training* images (:func:`cnnlab.data.kfold_split`,
``TrainSettings.cv_fold``) and is written to ``OUT/fold-<k+1>``. Each fold's score is the validation
accuracy of the model the recipe ends with (the last epoch's, averaged weights when the recipe has
``ema``); the best epoch's accuracy is recorded beside it but is optimistic (it is chosen on the same
images). With ``K`` folds every training image is validated once, so on a few hundred images the mean
is far steadier than one small hold-out split. ``OUT/cv.json`` holds the settings from the start and
the folds' results as they finish.

Comparing candidates (:func:`choose`, the rule of docs/improved-recipe.md): the candidates whose mean is
within one standard error (``sd / sqrt(folds)``) of the best mean are tied; among them the one whose folds
agree best (the smallest sd) is chosen.

An interrupted cross-validation continues with ``resume=True`` and the settings stored in ``cv.json``
(:func:`stored_settings`): finished folds are kept, a cut fold resumes from its last checkpoint, the
others are trained.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cnnlab.engine.settings import TrainSettings
from cnnlab.errors import CnnlabError, RunDirError
from cnnlab.rundir import RunDir, write_json
from cnnlab.training.callbacks import Callbacks
from cnnlab.training.loop import fit

CV_JSON = "cv.json"


@dataclass(frozen=True)
class FoldResult:
    """One fold: its run directory, the final and the best validation accuracy, and the epoch of the best."""

    fold: int  # 1-based
    run: str
    num_train: int
    num_val: int
    final_val_acc: float
    best_val_acc: float
    best_epoch: int
    seconds: float  # the epochs' training time, from metrics.csv (a resumed fold keeps its earlier epochs')


@dataclass
class CrossValidation:
    """The folds of one cross-validation and their summary (mean and sample standard deviation)."""

    settings: dict[str, Any]
    folds: list[FoldResult] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return statistics.fmean(f.final_val_acc for f in self.folds) if self.folds else float("nan")

    @property
    def std(self) -> float:
        accs = [f.final_val_acc for f in self.folds]
        return statistics.stdev(accs) if len(accs) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": "final-epoch validation accuracy, mean over folds",
            "complete": len(self.folds) == self.settings["folds"],
            "mean_val_acc": self.mean if self.folds else None,
            "std_val_acc": self.std if self.folds else None,
            "folds": [f.__dict__ for f in self.folds],
            "settings": self.settings,
        }


@dataclass(frozen=True)
class Choice:
    """What :func:`choose` decided: the chosen candidate, the tie threshold and the tied candidates."""

    chosen: str
    best: str  # the candidate with the best mean
    threshold: float  # best mean - its sd / sqrt(folds)
    tied: tuple[str, ...]  # the candidates whose mean is >= threshold, in the order given


def choose(scores: Mapping[str, Sequence[float]]) -> Choice:
    """The one-standard-error rule over candidates' fold scores ``{name: [score of each fold]}``.

    ``best`` has the highest mean ``m`` (sample sd ``s`` over its ``k`` folds); the candidates with a mean
    ``>= m - s / sqrt(k)`` are tied, and the tied one with the smallest sd is chosen (the first given on
    equal sd). Every candidate needs at least two folds.
    """
    if not scores:
        raise CnnlabError("no candidates to choose from")
    short = sorted(name for name, folds in scores.items() if len(folds) < 2)
    if short:
        raise CnnlabError(f"every candidate needs at least 2 fold scores; {', '.join(short)} has fewer")
    means = {name: statistics.fmean(folds) for name, folds in scores.items()}
    sds = {name: statistics.stdev(folds) for name, folds in scores.items()}
    best = max(means, key=means.__getitem__)
    threshold = means[best] - sds[best] / math.sqrt(len(scores[best]))
    tied = tuple(name for name in scores if means[name] >= threshold)
    return Choice(min(tied, key=sds.__getitem__), best, threshold, tied)


def _fold_result(run: RunDir, fold: int) -> FoldResult:
    rows = run.metrics()
    epochs = run.config["recipe"]["epochs"]
    if len(rows) < epochs or rows[-1]["val_acc"] is None:
        raise RunDirError(f"{run.path} did not finish its {epochs} epochs")
    best = int(run.config["best_epoch"])  # the trainer's own choice (ties: lower validation loss)
    return FoldResult(
        fold=fold,
        run=str(run.path),
        num_train=int(run.config.get("num_train", 0) or 0),
        num_val=int(run.config.get("num_val", 0) or 0),
        final_val_acc=float(rows[-1]["val_acc"]),
        best_val_acc=float(rows[best - 1]["val_acc"]),
        best_epoch=best,
        seconds=float(sum(r["seconds"] or 0.0 for r in rows)),
    )


def stored_settings(out: str | Path) -> tuple[TrainSettings, int]:
    """The settings and fold count a cross-validation in ``out`` was started with (from ``cv.json``)."""
    path = Path(out) / CV_JSON
    try:
        stored = json.loads(path.read_text())["settings"]
        settings = TrainSettings.from_config(stored)
        folds = int(stored["folds"])
    except FileNotFoundError:
        raise RunDirError(f"{path} does not exist: no cross-validation to resume in {out}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise RunDirError(f"{path} is not a cnnlab cross-validation summary: {exc}") from None
    settings.out = Path(out)
    return settings, folds


def cross_validate(
    settings: TrainSettings,
    folds: int,
    train: Callable[[TrainSettings, Callbacks | None], RunDir] = fit,
    callbacks: Callbacks | None = None,
    on_fold: Callable[[FoldResult, int], None] | None = None,
) -> CrossValidation:
    """Train ``folds`` runs of ``settings`` under ``settings.out`` and summarise them in ``cv.json``.

    ``train`` is :func:`cnnlab.training.loop.fit` (a stand-in may be passed in tests); ``callbacks``
    receive each fold's progress (``on_train_start`` sees ``settings.cv_fold``); ``on_fold(result,
    folds)`` is called after each fold. ``settings.resume`` keeps finished folds and resumes cut ones;
    ``settings.overwrite`` replaces existing ones. The recipe's ``val_fraction`` is not used (the folds
    are the validation).
    """
    if not isinstance(folds, int) or folds < 2:
        raise CnnlabError(f"cross-validation needs at least 2 folds, got {folds!r}")
    out = Path(settings.out)
    if not (settings.resume or settings.overwrite):
        RunDir.check_new(out)  # the one "already holds files" rule
    result = CrossValidation(settings={**settings.to_config(), "folds": folds, "resume": False})
    if not settings.resume or not (out / CV_JSON).is_file():
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / CV_JSON, result.to_dict())  # the settings, before any fold: what --resume reads
    for k in range(folds):
        fold_dir = out / f"fold-{k + 1}"
        started = (fold_dir / "config.json").is_file()
        fold_settings = replace(
            settings,
            cv_fold=(k, folds),
            out=fold_dir,
            resume=settings.resume and started,
            overwrite=settings.overwrite,
        )
        run = train(fold_settings, callbacks)
        fold = _fold_result(run, k + 1)
        result.folds.append(fold)
        write_json(out / CV_JSON, result.to_dict())
        if on_fold is not None:
            on_fold(fold, folds)
    return result
