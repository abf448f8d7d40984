"""Independent oracles shared by the test suites: layout moves, ``rel_error``, numerical gradients, PyTorch.

Import as ``from tests.oracles import rel_error, numerical_gradient, torch_conv, ...`` (``tests`` is a
package, so pytest puts the project root on ``sys.path``).

- Layout moves, done once here: activations NHWC <-> NCHW and conv weights ``(f, f, C_in, C_out)`` (the
  lab's and cnnlab's) <-> ``(C_out, C_in, f, f)`` (PyTorch's).
- :func:`rel_error`: ``max|x - y| / max(|x|, |y|)`` over the whole arrays (scale-aware, no blow-up on entries
  that happen to be near zero).
- :func:`numerical_gradient`: centred differences of ``sum(fn(x) * upstream)`` -- the gradient a backward
  pass should return for the upstream gradient ``upstream`` -- and :func:`gradcheck`, which draws a random
  upstream gradient and compares it with an analytic backward.
- :func:`torch_conv` / :func:`torch_pool` (and :func:`torch_reference`, which dispatches to them): run
  ``torch.nn.functional.conv2d`` / ``max_pool2d`` / ``avg_pool2d`` in float64 on NHWC NumPy inputs and return
  the output and every gradient in cnnlab's layouts. Torch is imported lazily; tests that use these should
  ``pytest.importorskip("torch")`` or carry the ``torch`` marker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# ------------------------------------------------------------------------------------------- layouts


def nhwc_to_nchw(x: np.ndarray) -> np.ndarray:
    """(m, H, W, C) -> (m, C, H, W), contiguous."""
    return np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2))


def nchw_to_nhwc(x: np.ndarray) -> np.ndarray:
    """(m, C, H, W) -> (m, H, W, C), contiguous."""
    return np.ascontiguousarray(np.asarray(x).transpose(0, 2, 3, 1))


def hwio_to_oihw(W: np.ndarray) -> np.ndarray:
    """Conv weights (f, f, C_in, C_out) (the lab's layout) -> (C_out, C_in, f, f) (PyTorch's), contiguous."""
    return np.ascontiguousarray(np.asarray(W).transpose(3, 2, 0, 1))


def oihw_to_hwio(W: np.ndarray) -> np.ndarray:
    """Conv weights (C_out, C_in, f, f) (PyTorch's) -> (f, f, C_in, C_out) (the lab's), contiguous."""
    return np.ascontiguousarray(np.asarray(W).transpose(2, 3, 1, 0))


# ------------------------------------------------------------------------------------------ errors


def rel_error(x: Any, y: Any) -> float:
    """Relative error ``max|x - y| / max(max|x|, max|y|)`` of two arrays of the same shape.

    Returns 0.0 when both are all zeros. Raises ``AssertionError`` on a shape mismatch, so a broadcast
    cannot hide a wrong shape.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    assert x.shape == y.shape, f"shapes differ: {x.shape} vs {y.shape}"
    if x.size == 0:
        return 0.0
    scale = max(np.max(np.abs(x)), np.max(np.abs(y)))
    if scale == 0:
        return 0.0
    return float(np.max(np.abs(x - y)) / scale)


# ------------------------------------------------------------------------------ numerical gradients


def numerical_gradient(
    fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, upstream: np.ndarray, h: float = 1e-6
) -> np.ndarray:
    """Centred-difference gradient of ``L(x) = sum(fn(x) * upstream)`` with respect to ``x``.

    ``x`` must be a float64 array; each entry is nudged by ``+h`` and ``-h`` in place and restored (so pass
    a copy if ``fn`` keeps a reference). ``(L(x + h e_i) - L(x - h e_i)) / (2h)`` is exact up to rounding for
    functions that are linear in ``x`` (conv) or piecewise linear away from ties (max-pool, ReLU).
    """
    assert x.dtype == np.float64, f"numerical_gradient needs float64, got {x.dtype}"
    upstream = np.asarray(upstream, dtype=np.float64)
    grad = np.zeros_like(x)
    flat = x.reshape(-1)  # a view: x is modified in place and restored
    assert np.shares_memory(flat, x), "numerical_gradient needs a contiguous x"
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = np.sum(np.asarray(fn(x), dtype=np.float64) * upstream)
        flat[i] = old - h
        minus = np.sum(np.asarray(fn(x), dtype=np.float64) * upstream)
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad


def gradcheck(
    forward: Callable[..., np.ndarray],
    backward: Callable[[np.ndarray], Any],
    inputs: dict[str, np.ndarray],
    seed: int = 0,
    h: float = 1e-6,
) -> dict[str, float]:
    """Compare an analytic backward with centred differences under a random upstream gradient.

    ``forward(**inputs)`` returns the output array; ``backward(upstream)`` returns a dict name -> analytic
    gradient for (some of) the inputs, computed at ``inputs``. Returns ``{name: rel_error}`` for every
    name ``backward`` returned. Inputs must be float64 arrays; they are copied, never modified.
    """
    rng = np.random.default_rng(seed)
    inputs = {k: np.array(v, dtype=np.float64) for k, v in inputs.items()}
    out = np.asarray(forward(**inputs))
    upstream = rng.standard_normal(out.shape)
    analytic = backward(upstream)
    errors = {}
    for name, grad in analytic.items():
        x = inputs[name].copy()

        def fn(x_, name=name):
            return forward(**{**inputs, name: x_})

        errors[name] = rel_error(grad, numerical_gradient(fn, x, upstream, h))
    return errors


# ---------------------------------------------------------------------------------------- PyTorch


def _torch():
    import torch

    return torch


def torch_conv(
    A_prev: np.ndarray,
    W: np.ndarray,
    b: np.ndarray,
    hparameters: dict[str, int],
    dZ: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """PyTorch float64 conv2d on the lab's layouts.

    A_prev (m, H, W, C_in), W (f, f, C_in, C_out), b (1, 1, 1, C_out), hparameters {"stride", "pad"};
    ``dZ`` (m, n_H, n_W, C_out) is the upstream gradient (none: no gradients). Returns
    ``{"Z": (m, n_H, n_W, C_out)}`` plus ``"dA_prev"``, ``"dW"``, ``"db"`` in the same layouts as the inputs.
    """
    torch = _torch()
    a = torch.tensor(nhwc_to_nchw(A_prev), dtype=torch.float64, requires_grad=dZ is not None)
    w = torch.tensor(hwio_to_oihw(W), dtype=torch.float64, requires_grad=dZ is not None)
    bias = torch.tensor(np.asarray(b).reshape(-1), dtype=torch.float64, requires_grad=dZ is not None)
    z = torch.nn.functional.conv2d(a, w, bias, stride=hparameters["stride"], padding=hparameters["pad"])
    out = {"Z": nchw_to_nhwc(z.detach().numpy())}
    if dZ is not None:
        z.backward(torch.tensor(nhwc_to_nchw(dZ), dtype=torch.float64))
        out["dA_prev"] = nchw_to_nhwc(a.grad.numpy())
        out["dW"] = oihw_to_hwio(w.grad.numpy())
        out["db"] = bias.grad.numpy().reshape(1, 1, 1, -1)
    return out


def torch_pool(
    A_prev: np.ndarray, hparameters: dict[str, int], mode: str = "max", dA: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """PyTorch float64 ``max_pool2d`` / ``avg_pool2d`` (no padding, floor mode) on NHWC arrays.

    Returns ``{"A": (m, n_H, n_W, C)}`` and, given the upstream ``dA``, ``"dA_prev"`` (m, H, W, C).
    PyTorch's max-pool gradient goes to the first maximum of each window in row-major order.
    """
    torch = _torch()
    F = torch.nn.functional
    a = torch.tensor(nhwc_to_nchw(A_prev), dtype=torch.float64, requires_grad=dA is not None)
    f, s = hparameters["f"], hparameters["stride"]
    if mode == "max":
        y = F.max_pool2d(a, kernel_size=f, stride=s)
    elif mode == "average":
        y = F.avg_pool2d(a, kernel_size=f, stride=s)
    else:
        raise ValueError(f"unknown pooling mode {mode!r}")
    out = {"A": nchw_to_nhwc(y.detach().numpy())}
    if dA is not None:
        y.backward(torch.tensor(nhwc_to_nchw(dA), dtype=torch.float64))
        out["dA_prev"] = nchw_to_nhwc(a.grad.numpy())
    return out


def torch_reference(op: str, *args: Any, **kwargs: Any) -> dict[str, np.ndarray]:
    """``torch_reference("conv", A_prev, W, b, hp, dZ)`` or ``("max_pool" | "avg_pool", A_prev, hp, dA)``."""
    if op == "conv":
        return torch_conv(*args, **kwargs)
    if op in ("max_pool", "avg_pool"):
        return torch_pool(*args, mode="max" if op == "max_pool" else "average", **kwargs)
    raise ValueError(f"unknown op {op!r}; choose conv, max_pool or avg_pool")
