"""Weight initialisers: the lab's ``randn * 0.01``, He/Kaiming, and PyTorch's default.

``fan_in`` is the number of inputs one output unit sees: ``f * f * C_in`` for a conv filter
``W (f, f, C_in, C_out)`` and ``in_features`` for a Linear weight ``W (in, out)``.

- ``"lab"``: ``W ~ 0.01 * N(0, 1)``, ``b = 0`` — what the lab's exercise 8 does. Fine for one layer;
  in a deep ReLU network the activations shrink by ~``0.01 * sqrt(fan_in / 2)`` per layer.
- ``"kaiming"`` (He et al., 2015): ``W ~ N(0, 2 / fan_in)``, ``b = 0`` — keeps the variance of ReLU
  activations constant from layer to layer.
- ``"torch"``: PyTorch's default for ``nn.Conv2d`` / ``nn.Linear`` (``kaiming_uniform_(a=sqrt(5))``):
  ``W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.
"""

from __future__ import annotations

import math

import numpy as np

INITS = ("kaiming", "lab", "torch")


def fan_in(weight_shape: tuple[int, ...]) -> int:
    """Inputs per output unit: the product of all dimensions but the last (``C_out`` / ``out``)."""
    return int(math.prod(weight_shape[:-1]))


def init_weight(
    shape: tuple[int, ...], scheme: str, rng: np.random.Generator, dtype: np.dtype | type = np.float32
) -> np.ndarray:
    """A new weight of ``shape`` (``(f, f, C_in, C_out)`` or ``(in, out)``) drawn by ``scheme``."""
    n = fan_in(shape)
    if scheme == "lab":
        w = 0.01 * rng.standard_normal(shape)
    elif scheme == "kaiming":
        w = math.sqrt(2.0 / n) * rng.standard_normal(shape)
    elif scheme == "torch":
        bound = 1.0 / math.sqrt(n)
        w = rng.uniform(-bound, bound, size=shape)
    else:
        raise ValueError(f"unknown init {scheme!r}; choose one of {list(INITS)}")
    return w.astype(dtype)


def init_bias(
    shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    scheme: str,
    rng: np.random.Generator,
    dtype: np.dtype | type = np.float32,
) -> np.ndarray:
    """A new bias of ``shape`` for a weight of ``weight_shape``: zeros, or PyTorch's uniform draw."""
    if scheme in ("lab", "kaiming"):
        return np.zeros(shape, dtype=dtype)
    if scheme == "torch":
        bound = 1.0 / math.sqrt(fan_in(weight_shape))
        return rng.uniform(-bound, bound, size=shape).astype(dtype)
    raise ValueError(f"unknown init {scheme!r}; choose one of {list(INITS)}")
