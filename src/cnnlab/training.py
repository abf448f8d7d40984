"""What both trainers share: the settings of a run and the progress callbacks.

``cnnlab.nn.trainer.train(settings, callbacks)`` and ``cnnlab.torch_backend.trainer.train(settings,
callbacks)`` take the same :class:`TrainSettings`, write the same run directory (``cnnlab.runs``) and
report progress through the same :class:`Callbacks`; the CLI's progress bar is one implementation of it.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cnnlab.recipes import RECIPES, Recipe


@dataclass
class TrainSettings:
    backend: str = "numpy"  # "numpy" | "torch"
    model: str = "cnn"  # "simple" | "cnn"
    recipe: Recipe = field(default_factory=lambda: RECIPES["improved"])
    image_size: int | None = None  # None: cnnlab.architectures.DEFAULT_IMAGE_SIZE[model]
    data: str | None = None  # image-folder root; None: the built-in dataset
    out: Path = Path("runs/latest")
    device: str = "auto"  # torch: "auto" | "cpu" | "cuda" | "mps"
    dtype: str = "float32"  # numpy: "float32" | "float64"
    resume: bool = False
    overwrite: bool = False
    cv_fold: tuple[int, int] | None = None  # (k, K): validate on fold k (0-based) of K, not val_fraction

    def split(self, labels: Any) -> tuple[Any, Any]:
        """``(train_idx, val_idx)`` of the training images, the one rule of both trainers.

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
        """The JSON-able config written to ``config.json`` (plus versions and the command line)."""
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
        keys = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in cfg.items() if k in keys}
        kw["recipe"] = Recipe(**cfg["recipe"])
        kw["out"] = Path(cfg["out"])
        if kw.get("cv_fold") is not None:
            kw["cv_fold"] = tuple(kw["cv_fold"])
        return cls(**kw)


class Callbacks:
    """Progress hooks; the default does nothing. Subclass and override what you need."""

    def on_train_start(self, settings: TrainSettings, num_train: int, num_val: int, start_epoch: int) -> None:
        pass

    def on_epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        """``epoch`` is 1-based; ``steps`` the number of mini-batches this epoch."""

    def on_step(self, step: int, loss: float, acc: float, images: int) -> None:
        """After each mini-batch: its loss and accuracy and how many images it held."""

    def on_epoch_end(self, row: dict[str, Any]) -> None:
        """``row`` has the keys of ``cnnlab.runs.METRIC_COLUMNS``."""

    def on_message(self, text: str) -> None:
        """A one-line note (checkpoint saved, stopped early, skipped files...)."""


def skipped_files_note(skipped: list[tuple[str, str]], shown: int = 3) -> str | None:
    """One line about the unreadable files a dataset load skipped, or ``None`` when there were none.

    ``skipped`` is ``cnnlab.data.Dataset.skipped``: ``[(path, reason), ...]``. The first ``shown`` are
    named; all of them go into ``config.json`` (``"skipped_files"``) so nothing is lost silently.
    """
    if not skipped:
        return None
    listed = "; ".join(f"{path} ({reason})" for path, reason in skipped[:shown])
    more = f"; and {len(skipped) - shown} more (see config.json)" if len(skipped) > shown else ""
    noun = "file" if len(skipped) == 1 else "files"
    return f"skipped {len(skipped)} unreadable {noun}: {listed}{more}"
