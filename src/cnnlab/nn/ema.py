"""An exponential moving average of a model's weights (the recipe's ``ema``), for the NumPy backend.

After every optimisation step, for each parameter ``w`` and its average ``w_ema`` (which starts as a
copy of the initial weights)::

    w_ema <- decay * w_ema + (1 - decay) * w        (computed as w_ema += (1 - decay) * (w - w_ema))

The averaged weights see the last ``~1 / (1 - decay)`` steps, which smooths out the noise of small
mini-batches; the trainer validates, checkpoints and predicts with them. The torch trainer keeps the
same average with ``Tensor.lerp_`` (:mod:`cnnlab.torch_backend.trainer`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


class WeightAverage:
    """``WeightAverage(params, decay)``: an EMA of the named arrays ``params``; call :meth:`update`
    after each optimizer step with the same live arrays."""

    def __init__(self, params: Mapping[str, np.ndarray], decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the weight average's decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.shadow = {k: np.array(v, copy=True) for k, v in params.items()}

    def update(self, params: Mapping[str, np.ndarray]) -> None:
        """``w_ema += (1 - decay) * (w - w_ema)`` for every parameter, in place."""
        rate = 1.0 - self.decay
        for k, s in self.shadow.items():
            s += s.dtype.type(rate) * (params[k] - s)

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
