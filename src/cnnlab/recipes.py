"""Training recipes shared by the NumPy and the PyTorch trainers, and the learning-rate schedule.

- ``lab``: exactly the lab's Part 2 — 50 epochs, Adam lr 1e-3, batch 32, no augmentation, no dropout,
  no validation split (the best checkpoint is then the last one).
- ``improved`` (the default): the same 548,258-parameter architecture, 200 epochs, with augmentation
  (flip, +-8 px crop, colour jitter), mixup 0.2, dropout 0.3, AdamW weight decay, a one-cycle schedule,
  label smoothing 0.1, a moving average of the weights (decay 0.99) and flip test-time averaging. Its
  settings are compared by 5-fold cross-validation on the training images (``cnnlab cv``, ``make
  selection``; the test set is never used to choose), so the recipe then trains on all of them
  (``val_fraction = 0``); see ``docs/improved-recipe.md``.

What they score is measured, not written here: ``make accuracy`` writes the test accuracies (seeds
2023-2025, both backends) to docs/figures.md and ``make selection`` the cross-validation that chose
``improved`` to docs/selection.md, each with the commit it was measured at.

Both trainers read a :class:`Recipe` and call :func:`learning_rate` each step, so the schedule exists
once; with ``ema > 0`` both keep the weight average of :mod:`cnnlab.engine.average`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Recipe:
    name: str
    epochs: int
    batch_size: int
    lr: float
    optimizer: str = "adam"  # "adam" | "adamw" | "sgd"
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    schedule: str = "constant"  # "constant" | "onecycle" | "cosine"
    warmup_fraction: float = 0.3  # onecycle: fraction of steps spent rising to ``lr``
    augment: bool = False  # random flip + padded random crop + mild colour jitter (cnnlab.data.augment)
    augment_pad: int = 4  # the crop's reflect padding: Augmenter(seed, pad=augment_pad), shifts of +-pad px
    augment_scale: float = 1.0  # random resized crop of U[augment_scale, 1] of the area; 1: off
    dropout: float = 0.0
    val_fraction: float = 0.0  # carved from train, stratified, seeded
    label_smoothing: float = 0.0
    tta_flip: bool = False  # average the probabilities of the image and its mirror at evaluation
    mixup: float = 0.0  # Beta(alpha, alpha) of mixup (cnnlab.data.mixup); 0: off
    ema: float = 0.0  # decay of the weights' exponential moving average, per step; 0: off
    seed: int = 2023

    def to_dict(self) -> dict:
        return asdict(self)

    def with_overrides(self, **changes) -> Recipe:
        """A copy with the given fields changed; ``None`` values are ignored."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


RECIPES: dict[str, Recipe] = {
    "lab": Recipe(name="lab", epochs=50, batch_size=32, lr=1e-3, optimizer="adam"),
    "improved": Recipe(
        name="improved",
        epochs=200,
        batch_size=32,
        lr=2e-3,
        optimizer="adamw",
        weight_decay=5e-2,
        schedule="onecycle",
        augment=True,
        augment_pad=8,
        dropout=0.3,
        val_fraction=0.0,  # chosen by 5-fold cross-validation on train (cnnlab cv); then all of train
        label_smoothing=0.1,
        tta_flip=True,
        mixup=0.2,
        ema=0.99,
    ),
}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}") from None


def learning_rate(recipe: Recipe, step: int, total_steps: int) -> float:
    """Learning rate for optimisation step ``step`` (0-based) of ``total_steps``.

    - constant: ``lr``
    - cosine:   ``lr * 0.5 * (1 + cos(pi * t))`` with ``t = step / total_steps``
    - onecycle: linear warm-up from ``lr/25`` to ``lr`` over ``warmup_fraction`` of the steps, then
      cosine annealing down to ``lr/1e4`` (PyTorch's ``OneCycleLR`` defaults, linear warm-up).
    """
    if total_steps <= 0:
        return recipe.lr
    t = min(max(step / total_steps, 0.0), 1.0)
    if recipe.schedule == "constant":
        return recipe.lr
    if recipe.schedule == "cosine":
        return recipe.lr * 0.5 * (1.0 + math.cos(math.pi * t))
    if recipe.schedule == "onecycle":
        start, end = recipe.lr / 25.0, recipe.lr / 1e4
        w = recipe.warmup_fraction
        if t < w:
            return start + (recipe.lr - start) * (t / w)
        u = (t - w) / (1.0 - w)
        return end + (recipe.lr - end) * 0.5 * (1.0 + math.cos(math.pi * u))
    raise ValueError(f"unknown schedule {recipe.schedule!r}; choose constant, cosine or onecycle")
