"""Mixup (Zhang et al., 2018), written once for both backends: blend pairs of images and their targets.

For a mini-batch of ``N`` normalised images ``x`` with labels ``y``, one draw gives a weight
``lam ~ Beta(alpha, alpha)`` and a permutation ``perm`` of ``0..N-1``; then

    x_mix = lam * x + (1 - lam) * x[perm]
    loss  = lam * CE(f(x_mix), y) + (1 - lam) * CE(f(x_mix), y[perm])

which, cross-entropy being linear in its target, is the cross-entropy against the mixed target
``lam * t(y) + (1 - lam) * t(y[perm])`` (``t`` the one-hot or label-smoothed target). The blend is
plain arithmetic, so :func:`mix` works on NumPy arrays and torch tensors alike; the draws come from one
seeded ``numpy.random.Generator``, so both trainers see the same ``lam`` and ``perm`` for the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from cnnlab.errors import DataError

T = TypeVar("T")


@dataclass(frozen=True)
class MixParams:
    """One batch's mixup draw: the weight ``lam`` of the original image and the partner ``perm (N,)``."""

    lam: float
    perm: np.ndarray  # int64, a permutation of 0..N-1

    @property
    def dominant(self) -> bool:
        """True when the original image weighs at least half (``lam >= 0.5``): its label is the one
        training accuracy is counted against."""
        return self.lam >= 0.5


def mix(x: T, params: MixParams) -> T:
    """``lam * x + (1 - lam) * x[perm]`` for a batch ``x (N, ...)`` (NumPy array or torch tensor)."""
    if len(params.perm) != len(x):  # type: ignore[arg-type]
        raise DataError(f"mixup: a draw for {len(params.perm)} images, but the batch has {len(x)}")  # type: ignore[arg-type]
    index = params.perm
    if not isinstance(x, np.ndarray):  # a torch tensor: index it with a tensor on its own device
        import torch

        index = torch.from_numpy(params.perm).to(x.device)  # type: ignore[attr-defined]
    return params.lam * x + (1.0 - params.lam) * x[index]  # type: ignore[operator,index]


class MixUp:
    """Seeded mixup draws: ``MixUp(alpha, seed).sample(n) -> MixParams``.

    ``alpha > 0`` is the Beta distribution's parameter: small values (0.1-0.4) mostly keep one image
    dominant, ``alpha = 1`` mixes uniformly. The same seed and sequence of calls give the same draws.
    """

    def __init__(self, alpha: float, seed: int | None = None):
        if not (alpha > 0 and np.isfinite(alpha)):
            raise DataError(f"mixup alpha must be a positive number, got {alpha}")
        self.alpha = float(alpha)
        self.rng = np.random.default_rng(seed)

    def sample(self, n: int) -> MixParams:
        """Draw ``lam`` and a permutation for a batch of ``n`` images."""
        lam = float(self.rng.beta(self.alpha, self.alpha))
        return MixParams(lam, self.rng.permutation(n).astype(np.int64))
