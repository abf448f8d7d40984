"""The weight average (the recipe's ``ema``) of NumPy arrays: :mod:`cnnlab.engine.average` with
NumPy's in-place arithmetic (in the arrays' own dtype), and its place in ``last.npz``.

The rule (the recurrence, when it is updated, what it is used for) is :mod:`cnnlab.engine.average`'s.
In a NumPy checkpoint the averaged arrays sit in the optimizer state under :data:`EMA_PREFIX`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from cnnlab.engine.average import EMA_KEY, averaged_or_raw
from cnnlab.engine.average import WeightAverage as SharedWeightAverage

#: Key prefix of the weight average's arrays inside a checkpoint's optimizer state (``last.npz``).
EMA_PREFIX = "ema."


def split_average(optimizer_state: Mapping[str, np.ndarray]) -> tuple[dict, dict | None]:
    """``(optimizer state, averaged weights or None)`` of a checkpoint's optimizer arrays."""
    ema = {k[len(EMA_PREFIX) :]: v for k, v in optimizer_state.items() if k.startswith(EMA_PREFIX)}
    rest = {k: v for k, v in optimizer_state.items() if not k.startswith(EMA_PREFIX)}
    return rest, ema or None


def averaged_or_raw_params(
    params: Mapping[str, np.ndarray], optimizer_state: Mapping[str, np.ndarray]
) -> dict:
    """The weights a NumPy checkpoint stands for (:func:`cnnlab.engine.average.averaged_or_raw`)."""
    return averaged_or_raw({"params": params, EMA_KEY: split_average(optimizer_state)[1]}, "params")


def join_average(optimizer_state: Mapping[str, np.ndarray], ema: Mapping[str, np.ndarray]) -> dict:
    """The optimizer arrays with the averaged weights added under :data:`EMA_PREFIX`."""
    return {**optimizer_state, **{EMA_PREFIX + k: v for k, v in ema.items()}}


def _lerp(avg: np.ndarray, w: np.ndarray, rate: float) -> None:
    avg += avg.dtype.type(rate) * (w - avg)


class WeightAverage(SharedWeightAverage[np.ndarray]):
    """``WeightAverage(params, decay)``: an EMA of the named arrays ``params`` (copied); call
    :meth:`update` after each optimizer step with the same live arrays."""

    def __init__(self, params: Mapping[str, np.ndarray], decay: float):
        super().__init__({k: np.array(v, copy=True) for k, v in params.items()}, decay, _lerp)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the averaged weights, by parameter name (a model's ``load_state_dict`` takes them)."""
        return {k: v.copy() for k, v in self.shadow.items()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore averaged weights saved by :meth:`state_dict` (names and shapes must match)."""
        if set(state) != set(self.shadow):
            raise ValueError(
                f"weight average: expected {sorted(self.shadow)}, got {sorted(state)} in the checkpoint"
            )
        for k, s in self.shadow.items():
            v = np.asarray(state[k])
            if v.shape != s.shape:
                raise ValueError(f"weight average: {k} has shape {v.shape}, expected {s.shape}")
            s[...] = v
