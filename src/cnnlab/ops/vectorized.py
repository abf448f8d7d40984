"""The lab's eight functions, vectorized: im2col + matmul for conv, strided windows for pooling.

Same names, signatures, caches and results as :mod:`cnnlab.ops.loops` (equal to ~1e-12 in float64), and
the caller's float dtype is kept (float32 in, float32 out). See :mod:`cnnlab.ops.loops` for the
conventions; in short:

- NHWC activations ``(m, n_H_prev, n_W_prev, n_C_prev)``; ``W (f, f, n_C_prev, n_C)``; ``b (1, 1, 1, n_C)``.
- ``n_H = floor((n_H_prev - f + 2*pad) / stride) + 1``; conv is cross-correlation (no filter flip).
- Conv cache ``(A_prev, W, b, hparameters)``; pool cache ``(A_prev, hparameters)``; never written into.
- Max-pool ties: the gradient goes to the first maximum of the window in row-major order (as PyTorch).

How it is fast
--------------
- conv forward: the padded input is viewed as windows ``(m, n_H, n_W, f, f, n_C_prev)`` with
  ``as_strided`` (a read-only view), copied once into the im2col matrix ``cols (m*n_H*n_W, f*f*n_C_prev)``
  and multiplied by ``W.reshape(f*f*n_C_prev, n_C)`` (one BLAS call).
- conv backward: ``dW = cols.T @ dZ``, ``db = ones @ dZ`` (a matmul beats ``sum(axis=0)`` on tall arrays)
  and ``dA_prev`` by col2im: ``dcols = dZ @ W.T`` added back window offset by window offset — ``f*f``
  strided additions, no ``np.add.at``.
- pooling: a loop over the ``f*f`` offsets of the window, each a whole-array strided operation; max-pool
  backward recomputes the first-argmax the same way (cheap), so the lab's cache is enough.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnlab.ops import _validate as v

__all__ = [
    "conv_backward",
    "conv_forward",
    "conv_single_step",
    "create_mask_from_window",
    "distribute_value",
    "pool_backward",
    "pool_forward",
    "zero_pad",
]


# --------------------------------------------------------------------------------------------- helpers
def _pad(X: np.ndarray, pad: int, dtype: np.dtype) -> np.ndarray:
    """X (m, n_H, n_W, n_C) as a new ``dtype`` array with ``pad`` zeros around H and W."""
    m, n_H, n_W, n_C = X.shape
    out = np.zeros((m, n_H + 2 * pad, n_W + 2 * pad, n_C), dtype=dtype)
    out[:, pad : pad + n_H, pad : pad + n_W, :] = X
    return out


def _windows(X: np.ndarray, f: int, stride: int, n_H: int, n_W: int) -> np.ndarray:
    """Read-only view (m, n_H, n_W, f, f, n_C) of the f x f windows of X (m, H, W, n_C) at ``stride``."""
    s0, s1, s2, s3 = X.strides
    m, _, _, n_C = X.shape
    return as_strided(
        X,
        shape=(m, n_H, n_W, f, f, n_C),
        strides=(s0, s1 * stride, s2 * stride, s1, s2, s3),
        writeable=False,
    )


def _offset(X: np.ndarray, i: int, j: int, stride: int, n_H: int, n_W: int) -> np.ndarray:
    """The (n_H, n_W) grid of window elements at offset (i, j): ``X[:, i + h*stride, j + w*stride, :]``."""
    return X[:, i : i + stride * (n_H - 1) + 1 : stride, j : j + stride * (n_W - 1) + 1 : stride, :]


def _im2col(A_prev: np.ndarray, f: int, stride: int, pad: int, n_H: int, n_W: int, dtype) -> np.ndarray:
    """The im2col matrix (m*n_H*n_W, f*f*n_C_prev), columns in W's (f, f, n_C_prev) order."""
    m, _, _, n_C_prev = A_prev.shape
    A_pad = _pad(A_prev, pad, dtype) if pad else A_prev.astype(dtype, copy=False)
    return _windows(A_pad, f, stride, n_H, n_W).reshape(m * n_H * n_W, f * f * n_C_prev)


# ------------------------------------------------------------------------------------------ the eight
def zero_pad(X: np.ndarray, pad: int) -> np.ndarray:
    """Pad H and W of X (m, n_H, n_W, n_C) with ``pad`` zeros.

    Returns a new (m, n_H + 2*pad, n_W + 2*pad, n_C) array of X's dtype (also for pad = 0).
    """
    X, pad = v.zero_pad_params(X, pad)
    return _pad(X, pad, X.dtype)


def conv_single_step(a_slice_prev: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.floating:
    """``sum(a_slice_prev * W) + b``: window (f, f, n_C_prev), filter (f, f, n_C_prev), b (1, 1, 1)."""
    a_slice_prev, W, b = v.single_step_params(a_slice_prev, W, b)
    dtype = v.float_dtype(a_slice_prev, W, b)
    Z = np.sum(a_slice_prev.astype(dtype, copy=False) * W.astype(dtype, copy=False))
    return Z + b.reshape(()).astype(dtype)


def conv_forward_cols(
    A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, hparameters: dict[str, int]
) -> tuple[np.ndarray, tuple, np.ndarray]:
    """:func:`conv_forward` that also returns the im2col matrix, to hand to :func:`conv_backward`.

    Returns ``(Z, cache, cols)`` with ``cols (m*n_H*n_W, f*f*n_C_prev)`` in the result dtype. Passing
    ``cols=cols`` to :func:`conv_backward` saves rebuilding it; the lab's cache is unchanged.
    """
    A_prev, W, b, stride, pad, (m, n_H, n_W, n_C) = v.conv_params(A_prev, W, b, hparameters)
    f, n_C_prev = W.shape[0], W.shape[2]
    dtype = v.float_dtype(A_prev, W, b)
    cols = _im2col(A_prev, f, stride, pad, n_H, n_W, dtype)
    Z = cols @ W.reshape(f * f * n_C_prev, n_C).astype(dtype, copy=False)
    Z += b.reshape(n_C).astype(dtype, copy=False)
    return Z.reshape(m, n_H, n_W, n_C), (A_prev, W, b, hparameters), cols


def conv_forward(
    A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, hparameters: dict[str, int]
) -> tuple[np.ndarray, tuple]:
    """Forward pass of a conv layer (cross-correlation) by im2col + one matmul.

    Parameters
    ----------
    A_prev : (m, n_H_prev, n_W_prev, n_C_prev) input activations
    W : (f, f, n_C_prev, n_C) filters
    b : (1, 1, 1, n_C) biases
    hparameters : {"stride": int >= 1, "pad": int >= 0}

    Returns
    -------
    Z : (m, n_H, n_W, n_C), ``n_H = floor((n_H_prev - f + 2*pad) / stride) + 1`` and likewise ``n_W``;
        ``Z[i, h, w, c] = sum(A_pad[i, h*s:h*s+f, w*s:w*s+f, :] * W[..., c]) + b[..., c]``
    cache : (A_prev, W, b, hparameters) for :func:`conv_backward`
    """
    Z, cache, _ = conv_forward_cols(A_prev, W, b, hparameters)
    return Z, cache


def conv_backward(
    dZ: np.ndarray, cache: tuple, cols: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of a conv layer: im2col for dW, col2im for dA_prev.

    Parameters
    ----------
    dZ : (m, n_H, n_W, n_C) gradient of the cost with respect to Z
    cache : (A_prev, W, b, hparameters) from :func:`conv_forward`
    cols : optional im2col matrix of A_prev from :func:`conv_forward_cols` (rebuilt when None)

    Returns
    -------
    dA_prev : (m, n_H_prev, n_W_prev, n_C_prev)
    dW : (f, f, n_C_prev, n_C), ``dW = cols.T @ dZ``
    db : (1, 1, 1, n_C), ``dZ`` summed over m, n_H, n_W
    """
    dZ, A_prev, W, b, stride, pad = v.conv_cache(dZ, cache)
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    f = W.shape[0]
    _, n_H, n_W, n_C = dZ.shape
    dtype = v.float_dtype(dZ, A_prev, W, b)
    K = f * f * n_C_prev
    rows = m * n_H * n_W

    dZ2 = np.ascontiguousarray(dZ.reshape(rows, n_C), dtype=dtype)
    if cols is None:
        cols = _im2col(A_prev, f, stride, pad, n_H, n_W, dtype)
    elif cols.shape != (rows, K):
        raise ValueError(f"conv_backward: cols has shape {cols.shape}, expected {(rows, K)}")
    dW = (cols.T @ dZ2).reshape(W.shape)
    db = (np.ones(rows, dtype=dtype) @ dZ2).reshape(1, 1, 1, n_C)

    dcols = (dZ2 @ W.reshape(K, n_C).astype(dtype, copy=False).T).reshape(m, n_H, n_W, f, f, n_C_prev)
    dA_pad = np.zeros((m, n_H_prev + 2 * pad, n_W_prev + 2 * pad, n_C_prev), dtype=dtype)
    for i in range(f):
        for j in range(f):
            _offset(dA_pad, i, j, stride, n_H, n_W)[...] += dcols[:, :, :, i, j, :]
    dA_prev = dA_pad[:, pad : pad + n_H_prev, pad : pad + n_W_prev, :]
    if pad:
        dA_prev = np.ascontiguousarray(dA_prev)
    return dA_prev, dW, db


def create_mask_from_window(x: np.ndarray) -> np.ndarray:
    """Bool mask of x's shape, True only at the first maximum of x in row-major order (PyTorch's rule)."""
    x = v.window_param(x)
    mask = np.zeros(x.size, dtype=bool)
    mask[np.argmax(x)] = True
    return mask.reshape(x.shape)


def distribute_value(dz: float, shape: tuple[int, int]) -> np.ndarray:
    """An array of ``shape = (n_H, n_W)`` filled with ``dz / (n_H * n_W)`` (float32 stays float32)."""
    dz, (n_H, n_W) = v.distribute_params(dz, shape)
    dtype = dz.dtype if np.issubdtype(dz.dtype, np.floating) else np.dtype(np.float64)
    return np.full((n_H, n_W), dz.astype(dtype) / dtype.type(n_H * n_W), dtype=dtype)


def _first_argmax(A_prev: np.ndarray, f: int, stride: int, n_H: int, n_W: int):
    """Max of each window and the flat offset (i*f + j) of its first maximum in row-major order."""
    out = np.array(_offset(A_prev, 0, 0, stride, n_H, n_W))
    idx = np.zeros(out.shape, dtype=np.int8 if f * f < 128 else np.int32)
    for k in range(1, f * f):
        cand = _offset(A_prev, k // f, k % f, stride, n_H, n_W)
        greater = cand > out  # strict: an equal later value never replaces the first maximum
        np.copyto(out, cand, where=greater)
        idx[greater] = k
    return out, idx


def pool_forward(
    A_prev: np.ndarray, hparameters: dict[str, int], mode: str = "max"
) -> tuple[np.ndarray, tuple]:
    """Forward pass of a pooling layer (no padding), one strided whole-array operation per window offset.

    Parameters
    ----------
    A_prev : (m, n_H_prev, n_W_prev, n_C) input activations
    hparameters : {"f": window side >= 1, "stride": int >= 1}
    mode : "max" or "average"

    Returns
    -------
    A : (m, n_H, n_W, n_C) with ``n_H = floor((n_H_prev - f) / stride) + 1`` and likewise ``n_W``
    cache : (A_prev, hparameters) for :func:`pool_backward`
    """
    A_prev, f, stride, (_, n_H, n_W, _) = v.pool_params(A_prev, hparameters, mode)
    dtype = v.float_dtype(A_prev)
    A = np.array(_offset(A_prev, 0, 0, stride, n_H, n_W), dtype=dtype)
    for k in range(1, f * f):
        cand = _offset(A_prev, k // f, k % f, stride, n_H, n_W)
        if mode == "max":
            np.maximum(A, cand, out=A)
        else:
            A += cand
    if mode == "average":
        A /= dtype.type(f * f)
    return A, (A_prev, hparameters)


def pool_backward(dA: np.ndarray, cache: tuple, mode: str = "max") -> np.ndarray:
    """Backward pass of a pooling layer.

    Parameters
    ----------
    dA : (m, n_H, n_W, n_C) gradient with respect to the pool output
    cache : (A_prev, hparameters) from :func:`pool_forward`
    mode : "max" (all to the first maximum of each window, row-major, as PyTorch) or "average"

    Returns
    -------
    dA_prev : (m, n_H_prev, n_W_prev, n_C); gradients of overlapping windows add up
    """
    dA, A_prev, f, stride = v.pool_cache(dA, cache, mode)
    _, n_H, n_W, _ = dA.shape
    dtype = v.float_dtype(dA, A_prev)
    dA_prev = np.zeros(A_prev.shape, dtype=dtype)
    if mode == "max":
        _, idx = _first_argmax(A_prev, f, stride, n_H, n_W)
        zero = dtype.type(0)
        for k in range(f * f):
            _offset(dA_prev, k // f, k % f, stride, n_H, n_W)[...] += np.where(idx == k, dA, zero)
    else:
        share = (dA / dtype.type(f * f)).astype(dtype, copy=False)
        for k in range(f * f):
            _offset(dA_prev, k // f, k % f, stride, n_H, n_W)[...] += share
    return dA_prev
