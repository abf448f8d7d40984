"""The weights' exponential moving average (the recipe's ``ema``): the one rule, for every backend.

After every optimisation step, for each parameter ``w`` and its average ``w_ema`` (which starts as a
copy of the initial weights)::

    w_ema <- decay * w_ema + (1 - decay) * w        (computed as w_ema += (1 - decay) * (w - w_ema))

The averaged weights see the last ``~1 / (1 - decay)`` steps, which smooths out the noise of small
mini-batches. An engine with an average validates with it, saves it as the ``best`` checkpoint's weights
and beside the raw weights in ``last`` (so that ``--resume`` continues it), and a predictor loaded from
either checkpoint uses it (:func:`predicted_weights`).

A backend supplies only its array arithmetic, ``lerp(w_ema, w, rate)`` (in place): ``cnnlab.nn.ema``
for NumPy arrays, ``Tensor.lerp_`` for PyTorch (:mod:`cnnlab.torch_backend.engine`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

A = TypeVar("A")

#: The key of the averaged weights in a checkpoint's state, beside the raw ``model`` / ``params`` ones.
EMA_KEY = "ema"


def check_decay(decay: float) -> float:
    """``decay`` as a float, if it is in (0, 1); else ``ValueError`` naming it."""
    decay = float(decay)
    if not 0.0 < decay < 1.0:
        raise ValueError(f"the weight average's decay must be in (0, 1), got {decay}")
    return decay


class WeightAverage(Generic[A]):
    """``WeightAverage(shadow, decay, lerp)``: the average of the named arrays ``shadow`` (owned by the
    average and updated in place; a copy of the initial weights). Call :meth:`update` after each optimizer
    step with the live parameters, by the same names."""

    def __init__(self, shadow: Mapping[str, A], decay: float, lerp: Callable[[A, A, float], Any]):
        self.decay = check_decay(decay)
        self.shadow: dict[str, A] = dict(shadow)
        self._lerp = lerp

    def update(self, params: Mapping[str, A]) -> None:
        """``w_ema += (1 - decay) * (w - w_ema)`` for every parameter, in place."""
        if params.keys() != self.shadow.keys():
            raise ValueError(
                f"weight average: expected the parameters {sorted(self.shadow)}, got {sorted(params)}"
            )
        rate = 1.0 - self.decay
        for k, s in self.shadow.items():
            self._lerp(s, params[k], rate)


def predicted_weights(state: Mapping[str, Any], raw_key: str) -> Any:
    """The weights a predictor uses from a checkpoint's ``state``: the average when it holds one (``"ema"``),
    else the raw weights under ``raw_key``."""
    return state[EMA_KEY] if state.get(EMA_KEY) is not None else state[raw_key]
