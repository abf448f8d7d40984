"""Optimizers on named parameters: SGD (momentum), Adam, and AdamW (decoupled weight decay).

An optimizer holds the model's *live* parameter arrays (``model.parameters()``) and updates them in
place from a dict of gradients with the same names: ``opt.step(model.gradients())``. ``opt.lr`` may be
changed between steps (the trainer sets it from the schedule every step). The updates are PyTorch's,
operation for operation, so the same gradients give the same parameters (tested against torch.optim):

- SGD: ``g += wd * p``; ``buf = g`` (first step) else ``buf = momentum * buf + g``; ``p -= lr * buf``.
- Adam: ``g += wd * p`` (L2, coupled); ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
  ``p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
- AdamW: as Adam, but the decay is decoupled: ``p *= 1 - lr * wd`` before the Adam step.

``state_dict()`` gives plain arrays (``"step"``, ``"exp_avg.0.weight"``...) for an ``.npz`` checkpoint;
``load_state_dict`` restores them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np


class Optimizer:
    """Base: ``params`` by name, ``lr``, ``weight_decay``, a step counter and per-parameter buffers."""

    buffers: tuple[str, ...] = ()

    def __init__(self, params: Mapping[str, np.ndarray], lr: float, weight_decay: float = 0.0) -> None:
        if lr < 0:
            raise ValueError(f"learning rate must be >= 0, got {lr}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.params = dict(params)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.t = 0
        self.state: dict[str, dict[str, np.ndarray]] = {
            b: {k: np.zeros_like(p) for k, p in self.params.items()} for b in self.buffers
        }
        self._tmp = {k: np.empty_like(p) for k, p in self.params.items()}  # scratch, no page faults

    def _grads(self, grads: Mapping[str, np.ndarray]) -> None:
        missing = [k for k in self.params if k not in grads]
        if missing:
            raise ValueError(f"{type(self).__name__}.step: no gradient for {missing}")
        for k, p in self.params.items():
            if grads[k].shape != p.shape:
                raise ValueError(
                    f"{type(self).__name__}.step: gradient of {k} has shape {grads[k].shape}, "
                    f"parameter has {p.shape}"
                )

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """Update every parameter in place from ``grads`` (same names and shapes)."""
        self._grads(grads)
        self.t += 1
        for k, p in self.params.items():
            self._update(k, p, grads[k])

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def _coupled_decay(self, p: np.ndarray, g: np.ndarray, tmp: np.ndarray) -> np.ndarray:
        """``g + wd * p`` in ``tmp`` when there is coupled weight decay, else ``g`` itself."""
        if not self.weight_decay:
            return g
        np.multiply(p, p.dtype.type(self.weight_decay), out=tmp)
        tmp += g
        return tmp

    # -- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {"step": np.array(self.t, dtype=np.int64)}
        for b, bufs in self.state.items():
            for k, v in bufs.items():
                out[f"{b}.{k}"] = v.copy()
        return out

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        if "step" not in state:
            raise ValueError(f"{type(self).__name__}: optimizer state has no 'step'")
        for b, bufs in self.state.items():
            for k, v in bufs.items():
                key = f"{b}.{k}"
                if key not in state:
                    raise ValueError(f"{type(self).__name__}: optimizer state is missing {key!r}")
                src = np.asarray(state[key])
                if src.shape != v.shape:
                    raise ValueError(
                        f"{type(self).__name__}: {key} has shape {src.shape}, expected {v.shape}"
                    )
                v[...] = src
        self.t = int(state["step"])


class SGD(Optimizer):
    """Stochastic gradient descent with optional (heavy-ball) momentum, as ``torch.optim.SGD``."""

    def __init__(
        self, params: Mapping[str, np.ndarray], lr: float, momentum: float = 0.0, weight_decay: float = 0.0
    ) -> None:
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.buffers = ("momentum_buffer",) if momentum else ()
        super().__init__(params, lr, weight_decay)

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        tmp = self._tmp[name]
        g = self._coupled_decay(p, g, tmp)
        if self.momentum:
            buf = self.state["momentum_buffer"][name]
            if self.t == 1:
                buf[...] = g
            else:
                buf *= p.dtype.type(self.momentum)
                buf += g
            g = buf
        np.multiply(g, p.dtype.type(self.lr), out=tmp)
        p -= tmp


class Adam(Optimizer):
    """Adam (Kingma & Ba); ``decoupled=True`` is AdamW (Loshchilov & Hutter), as in torch.optim."""

    buffers = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = False,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.decoupled = decoupled
        self._tmp2 = {k: np.empty_like(p) for k, p in self.params.items()}

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        f = p.dtype.type
        b1, b2 = self.betas
        tmp, tmp2 = self._tmp[name], self._tmp2[name]
        if self.decoupled:
            if self.weight_decay:
                p *= f(1.0 - self.lr * self.weight_decay)
        else:
            g = self._coupled_decay(p, g, tmp2)
        m, v = self.state["exp_avg"][name], self.state["exp_avg_sq"][name]
        # m = m + (g - m) * (1 - b1)   (torch's lerp_)
        np.subtract(g, m, out=tmp)
        tmp *= f(1.0 - b1)
        m += tmp
        # v = b2 * v + (1 - b2) * g * g
        v *= f(b2)
        np.multiply(g, g, out=tmp)
        tmp *= f(1.0 - b2)
        v += tmp
        bias1 = 1.0 - b1**self.t
        bias2_sqrt = math.sqrt(1.0 - b2**self.t)
        # denom = sqrt(v) / sqrt(1 - b2^t) + eps ;  p -= (lr / (1 - b1^t)) * m / denom
        np.sqrt(v, out=tmp)
        tmp /= f(bias2_sqrt)
        tmp += f(self.eps)
        np.divide(m, tmp, out=tmp)
        tmp *= f(self.lr / bias1)
        p -= tmp


def AdamW(
    params: Mapping[str, np.ndarray],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
) -> Adam:
    """Adam with decoupled weight decay (``p *= 1 - lr * wd`` each step), as ``torch.optim.AdamW``."""
    return Adam(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, decoupled=True)


def make_optimizer(
    name: str, params: Mapping[str, np.ndarray], lr: float, weight_decay: float = 0.0, momentum: float = 0.9
) -> Optimizer:
    """The optimizer a recipe names: ``"adam"``, ``"adamw"`` or ``"sgd"``."""
    if name == "adam":
        return Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose adam, adamw or sgd")
