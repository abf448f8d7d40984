"""The settings of one training run, their validation, and the one rule for resuming a run.

:class:`TrainSettings` is what :func:`cnnlab.training.loop.fit` takes, whatever the backend. Two rules
live here and nowhere else:

- :func:`settings_problems`: every setting the loop cannot use, as one line each, found before anything
  is read or written (each backend adds its own through :mod:`cnnlab.backends`).
- :func:`resumed_settings`: a resumed run keeps the settings in its ``config.json``; only where and how
  fast it runs (``out``, ``device``, ``threads``) and ``allow_data_change`` may differ, and any other
  difference is refused naming the option.
"""

from __future__ import annotations

import math
import platform
import sys
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from cnnlab.architectures import ARCHITECTURES
from cnnlab.errors import CnnlabError
from cnnlab.recipes import RECIPES, Recipe

#: Settings a resumed run may change: where it is, where it runs and how many threads it uses.
RESUMABLE_CHANGES = ("out", "resume", "overwrite", "device", "threads", "allow_data_change")


@dataclass
class TrainSettings:
    backend: str = "numpy"  # a name in cnnlab.backends.BACKENDS: "numpy" | "torch"
    model: str = "cnn"  # "simple" | "cnn"
    recipe: Recipe = field(default_factory=lambda: RECIPES["improved"])
    image_size: int | None = None  # None: cnnlab.architectures.DEFAULT_IMAGE_SIZE[model]
    data: str | None = None  # image-folder root; None: the built-in dataset
    out: Path = Path("runs/latest")
    device: str = "auto"  # torch: "auto" | "cpu" | "cuda" | "mps"; numpy: "auto" | "cpu"
    dtype: str = "float32"  # numpy: "float32" | "float64"; torch: "float32"
    resume: bool = False
    overwrite: bool = False
    cv_fold: tuple[int, int] | None = None  # (k, K): validate on fold k (0-based) of K, not val_fraction
    threads: int | None = None  # CPU threads; None: the backend's default (cnnlab.backends)
    allow_data_change: bool = False  # resume even though the data's files changed since the run began

    def split(self, labels: Any) -> tuple[Any, Any]:
        """``(train_idx, val_idx)`` of the training images, the one rule of every backend.

        With ``cv_fold = (k, K)``: fold ``k`` of a stratified ``K``-fold partition
        (:func:`cnnlab.data.kfold_split`, seeded by the recipe's seed) is held out; otherwise a stratified
        ``recipe.val_fraction`` of each class (:func:`cnnlab.data.train_val_split`), none when it is 0.
        Both are sorted int64 index arrays; the test split is never involved.
        """
        import numpy as np

        from cnnlab.data import kfold_split, train_val_split

        labels = np.asarray(labels)
        if self.cv_fold is not None:
            fold, folds = self.cv_fold
            return kfold_split(labels, int(folds), int(fold), self.recipe.seed)
        if self.recipe.val_fraction > 0:
            return train_val_split(labels, self.recipe.val_fraction, self.recipe.seed)
        return np.arange(labels.size, dtype=np.int64), np.zeros(0, dtype=np.int64)

    def to_config(self) -> dict[str, Any]:
        """The settings' part of ``config.json`` (plus versions and the command line)."""
        import numpy as np

        from cnnlab import __version__

        cfg = asdict(self)
        cfg["out"] = str(self.out)
        cfg["recipe"] = self.recipe.to_dict()
        cfg["versions"] = {
            "cnnlab": __version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
        }
        cfg["command"] = sys.argv
        return cfg

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> TrainSettings:
        keys = {f.name for f in fields(cls)}
        kw = {k: v for k, v in cfg.items() if k in keys}
        kw["recipe"] = Recipe(**cfg["recipe"])
        kw["out"] = Path(cfg["out"])
        if kw.get("cv_fold") is not None:
            kw["cv_fold"] = tuple(kw["cv_fold"])
        return cls(**kw)


def settings_problems(settings: TrainSettings) -> list[str]:
    """One line per setting no backend can use (the backend's own checks come on top)."""
    r = settings.recipe
    problems = []
    if settings.model not in ARCHITECTURES:
        problems.append(f"unknown model {settings.model!r}; choose one of {sorted(ARCHITECTURES)}")
    if settings.image_size is not None and settings.image_size < 1:
        problems.append(f"image_size must be a positive integer, got {settings.image_size}")
    if settings.threads is not None and settings.threads < 1:
        problems.append(f"threads must be a positive integer, got {settings.threads}")
    if settings.resume and settings.overwrite:
        problems.append("--resume and --overwrite contradict each other; pass one")
    if r.epochs < 1 or r.batch_size < 1:
        problems.append(f"epochs and batch_size must be >= 1, got {r.epochs} and {r.batch_size}")
    if not (math.isfinite(r.lr) and r.lr > 0):
        problems.append(f"the learning rate must be a positive number, got {r.lr}")
    if r.optimizer not in ("adam", "adamw", "sgd"):
        problems.append(f"unknown optimizer {r.optimizer!r}; choose adam, adamw or sgd")
    if r.schedule not in ("constant", "onecycle", "cosine"):
        problems.append(f"unknown schedule {r.schedule!r}; choose constant, onecycle or cosine")
    if r.schedule == "onecycle" and not 0.0 < r.warmup_fraction < 1.0:
        problems.append(f"warmup_fraction must be in (0, 1), got {r.warmup_fraction}")
    for name in ("dropout", "val_fraction", "label_smoothing"):
        if not 0.0 <= getattr(r, name) < 1.0:
            problems.append(f"{name} must be in [0, 1), got {getattr(r, name)}")
    if not (r.mixup >= 0 and math.isfinite(r.mixup)):
        problems.append(f"mixup must be a number >= 0 (0: off), got {r.mixup}")
    if not 0.0 <= r.ema < 1.0:
        problems.append(f"ema must be in [0, 1) (0: off), got {r.ema}")
    if not (r.weight_decay >= 0 and math.isfinite(r.weight_decay)):
        problems.append(f"weight_decay must be >= 0, got {r.weight_decay}")
    if not 0.0 < r.augment_scale <= 1.0:
        problems.append(f"augment_scale must be in (0, 1], got {r.augment_scale}")
    if r.augment_pad < 0:
        problems.append(f"augment_pad must be >= 0, got {r.augment_pad}")
    return problems


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _same_data(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def resumed_settings(settings: TrainSettings, stored_config: dict[str, Any]) -> TrainSettings:
    """The settings a resumed run continues with: the stored ones, with :data:`RESUMABLE_CHANGES` taken
    from ``settings``. Any other difference raises :class:`CnnlabError` naming the option, e.g.
    ``runs/a was trained with --epochs 3, not 5; a resumed run keeps its settings (...)``."""
    stored = TrainSettings.from_config(stored_config)
    where = settings.out
    for f in fields(TrainSettings):
        if f.name in RESUMABLE_CHANGES:
            continue
        was, now = getattr(stored, f.name), getattr(settings, f.name)
        if f.name == "recipe":
            for rf in fields(Recipe):
                a, b = getattr(was, rf.name), getattr(now, rf.name)
                if a != b:
                    option = _option("recipe" if rf.name == "name" else rf.name)
                    raise CnnlabError(
                        f"{where} was trained with {option} {a}, not {b}; a resumed run keeps "
                        "its settings (resume it without that option or start a new run)"
                    )
        elif (f.name == "data" and _same_data(was, now)) or (f.name == "image_size" and now is None):
            continue
        elif was != now:
            raise CnnlabError(
                f"{where} was trained with {_option(f.name)} {was}, not {now}; a resumed run keeps its "
                "settings (resume it without that option or start a new run)"
            )
    kept = {k: getattr(settings, k) for k in RESUMABLE_CHANGES}
    return replace(stored, **{**kept, "resume": True, "overwrite": False})
