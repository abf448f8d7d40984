"""The weights' exponential moving average (the recipe's ``ema``): its rule, for every backend.

With ``recipe.ema = decay > 0``, after every optimisation step, for each parameter ``w`` and its average
``w_ema`` (which starts as a copy of the initial weights)::

    w_ema <- decay * w_ema + (1 - decay) * w        (computed as w_ema += (1 - decay) * (w - w_ema))

The averaged weights see the last ``~1 / (1 - decay)`` steps, which smooths out the noise of small
mini-batches. What this module owns: the recurrence and its decay check (:class:`WeightAverage`), and
which weights a checkpoint's state stands for (:func:`averaged_or_raw`: the average when it holds one),
so that validation, the ``best`` checkpoint, a resumed run and a predictor loaded from either checkpoint
all use the average. Each engine calls :meth:`WeightAverage.update` after its optimizer step and keeps the
average in its checkpoint format; it supplies the in-place arithmetic ``lerp(w_ema, w, rate)``
(:mod:`cnnlab.nn.ema` for NumPy arrays, ``Tensor.lerp_`` in :mod:`cnnlab.torch_backend.engine`).
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


def averaged_or_raw(state: Mapping[str, Any], raw_key: str) -> Any:
    """The weights a checkpoint's ``state`` stands for: the average when it holds one (under ``"ema"``),
    else the raw weights under ``raw_key``. What is validated, kept as ``best``, restored into the average
    on ``--resume`` (from a run saved before it had one) and predicted with."""
    return state[EMA_KEY] if state.get(EMA_KEY) is not None else state[raw_key]
