"""The lab's eight functions written as the lab teaches them: explicit nested loops.

This module is teaching material and the reference the fast versions in :mod:`cnnlab.ops` are tested
against. It is slow on purpose (about 8 s for one forward pass of a (32, 64, 64, 3) batch through a
3x3x3x16 conv); use ``from cnnlab.ops import conv_forward`` for real work.

Conventions (as in the lab)
---------------------------
- Activations are NHWC: ``A_prev`` has shape ``(m, n_H_prev, n_W_prev, n_C_prev)``.
- Conv weights ``W`` have shape ``(f, f, n_C_prev, n_C)``; biases ``b`` have shape ``(1, 1, 1, n_C)``.
- Conv ``hparameters = {"stride": s, "pad": p}``; pool ``hparameters = {"f": f, "stride": s}``.
- Output size: ``n_H = floor((n_H_prev - f + 2*pad) / stride) + 1`` (same for ``n_W``; pad = 0 for pooling).
  Windows that do not fit at the bottom or right edge are dropped.
- "Convolution" here is cross-correlation (the filter is not flipped), as in PyTorch's ``conv2d``.
- Conv cache: ``(A_prev, W, b, hparameters)``; pool cache: ``(A_prev, hparameters)``. Nothing is written
  into a cached array.
- Max-pool ties: the whole gradient goes to the *first* maximum of the window in row-major order, as in
  PyTorch (the lab's ``x == np.max(x)`` would give every tied position the full gradient).
- Results keep the caller's float dtype (float32 in, float32 out); integer inputs compute in float64.

Bad input raises ``ValueError`` naming the problem and the shapes (see :mod:`cnnlab.ops._validate`).
"""

from __future__ import annotations

import numpy as np

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


def zero_pad(X: np.ndarray, pad: int) -> np.ndarray:
    """Pad the height and width of every image in ``X`` with ``pad`` zeros on each side.

    Parameters
    ----------
    X : (m, n_H, n_W, n_C) array
    pad : int >= 0

    Returns
    -------
    X_pad : (m, n_H + 2*pad, n_W + 2*pad, n_C) array of the same dtype (a new array, also for pad = 0)
    """
    X, pad = v.zero_pad_params(X, pad)
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant", constant_values=0)


def conv_single_step(a_slice_prev: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.floating:
    """Apply one filter to one window: ``sum(a_slice_prev * W) + b``.

    Parameters
    ----------
    a_slice_prev : (f, f, n_C_prev) window of the input
    W : (f, f, n_C_prev) one filter
    b : (1, 1, 1) its bias (any shape holding one value)

    Returns
    -------
    Z : scalar of the inputs' float dtype
    """
    a_slice_prev, W, b = v.single_step_params(a_slice_prev, W, b)
    dtype = v.float_dtype(a_slice_prev, W, b)
    s = a_slice_prev.astype(dtype, copy=False) * W.astype(dtype, copy=False)
    Z = np.sum(s)
    # b.reshape(()) rather than the lab's float(b): float() of a (1, 1, 1) array raises on NumPy >= 2.4.
    return Z + b.reshape(()).astype(dtype)


def conv_forward(
    A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, hparameters: dict[str, int]
) -> tuple[np.ndarray, tuple]:
    """Forward pass of a conv layer (cross-correlation), one window and one filter at a time.

    Parameters
    ----------
    A_prev : (m, n_H_prev, n_W_prev, n_C_prev) input activations
    W : (f, f, n_C_prev, n_C) filters
    b : (1, 1, 1, n_C) biases
    hparameters : {"stride": int >= 1, "pad": int >= 0}

    Returns
    -------
    Z : (m, n_H, n_W, n_C) with ``n_H = floor((n_H_prev - f + 2*pad) / stride) + 1`` and likewise ``n_W``;
        ``Z[i, h, w, c] = sum(A_pad[i, h*s:h*s+f, w*s:w*s+f, :] * W[..., c]) + b[..., c]``
    cache : (A_prev, W, b, hparameters) for :func:`conv_backward`
    """
    A_prev, W, b, stride, pad, (m, n_H, n_W, n_C) = v.conv_params(A_prev, W, b, hparameters)
    f = W.shape[0]
    Z = np.zeros((m, n_H, n_W, n_C), dtype=v.float_dtype(A_prev, W, b))
    A_prev_pad = zero_pad(A_prev, pad)

    for i in range(m):  # loop over the batch
        a_prev_pad = A_prev_pad[i]
        for h in range(n_H):  # loop over the output rows
            vert_start = h * stride
            vert_end = vert_start + f
            for w in range(n_W):  # loop over the output columns
                horiz_start = w * stride
                horiz_end = horiz_start + f
                a_slice_prev = a_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :]
                for c in range(n_C):  # loop over the filters
                    Z[i, h, w, c] = conv_single_step(a_slice_prev, W[:, :, :, c], b[:, :, :, c])

    cache = (A_prev, W, b, hparameters)
    return Z, cache


def conv_backward(dZ: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of a conv layer.

    Parameters
    ----------
    dZ : (m, n_H, n_W, n_C) gradient of the cost with respect to the conv output Z
    cache : (A_prev, W, b, hparameters) from :func:`conv_forward`

    Returns
    -------
    dA_prev : (m, n_H_prev, n_W_prev, n_C_prev) gradient with respect to A_prev
    dW : (f, f, n_C_prev, n_C) gradient with respect to W
    db : (1, 1, 1, n_C) gradient with respect to b (``dZ`` summed over m, n_H, n_W)
    """
    dZ, A_prev, W, b, stride, pad = v.conv_cache(dZ, cache)
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f = W.shape[0]
    _, n_H, n_W, n_C = dZ.shape
    dtype = v.float_dtype(dZ, A_prev, W, b)

    dA_prev = np.zeros(A_prev.shape, dtype=dtype)
    dW = np.zeros(W.shape, dtype=dtype)
    db = np.zeros(b.shape, dtype=dtype)
    A_prev_pad = zero_pad(A_prev, pad)
    dA_prev_pad = zero_pad(dA_prev, pad)

    for i in range(m):
        a_prev_pad = A_prev_pad[i]
        da_prev_pad = dA_prev_pad[i]
        for h in range(n_H):
            vert_start = h * stride
            vert_end = vert_start + f
            for w in range(n_W):
                horiz_start = w * stride
                horiz_end = horiz_start + f
                a_slice = a_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :]
                for c in range(n_C):
                    dz = dZ[i, h, w, c]
                    da_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :] += W[:, :, :, c] * dz
                    dW[:, :, :, c] += a_slice * dz
                    db[:, :, :, c] += dz
        # Explicit end indices: the lab's da_prev_pad[pad:-pad] is empty when pad = 0.
        dA_prev[i, :, :, :] = da_prev_pad[pad : pad + n_H_prev, pad : pad + n_W_prev, :]

    return dA_prev, dW, db


def create_mask_from_window(x: np.ndarray) -> np.ndarray:
    """Boolean mask with one True at the first maximum of ``x`` in row-major order.

    Parameters
    ----------
    x : (f, f) window (any non-empty shape works)

    Returns
    -------
    mask : bool array of x's shape. With ties, only the first maximum is marked (PyTorch's rule), so the
        gradient of a max-pool window is never duplicated.
    """
    x = v.window_param(x)
    mask = np.zeros(x.shape, dtype=bool)
    mask[np.unravel_index(np.argmax(x), x.shape)] = True
    return mask


def distribute_value(dz: float, shape: tuple[int, int]) -> np.ndarray:
    """Spread ``dz`` evenly over a window: an array of ``shape`` filled with ``dz / (n_H * n_W)``.

    Parameters
    ----------
    dz : scalar gradient of one average-pool output
    shape : (n_H, n_W) the window's shape

    Returns
    -------
    a : (n_H, n_W) array; float32 stays float32, Python numbers give float64
    """
    dz, (n_H, n_W) = v.distribute_params(dz, shape)
    dtype = dz.dtype if np.issubdtype(dz.dtype, np.floating) else np.dtype(np.float64)
    average = dz.astype(dtype) / dtype.type(n_H * n_W)
    return np.full((n_H, n_W), average, dtype=dtype)


def pool_forward(
    A_prev: np.ndarray, hparameters: dict[str, int], mode: str = "max"
) -> tuple[np.ndarray, tuple]:
    """Forward pass of a pooling layer (no padding).

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
    A_prev, f, stride, (m, n_H, n_W, n_C) = v.pool_params(A_prev, hparameters, mode)
    A = np.zeros((m, n_H, n_W, n_C), dtype=v.float_dtype(A_prev))

    for i in range(m):
        for h in range(n_H):
            vert_start = h * stride
            vert_end = vert_start + f
            for w in range(n_W):
                horiz_start = w * stride
                horiz_end = horiz_start + f
                for c in range(n_C):
                    a_prev_slice = A_prev[i, vert_start:vert_end, horiz_start:horiz_end, c]
                    if mode == "max":
                        A[i, h, w, c] = np.max(a_prev_slice)
                    else:
                        A[i, h, w, c] = np.mean(a_prev_slice)

    cache = (A_prev, hparameters)
    return A, cache


def pool_backward(dA: np.ndarray, cache: tuple, mode: str = "max") -> np.ndarray:
    """Backward pass of a pooling layer.

    Parameters
    ----------
    dA : (m, n_H, n_W, n_C) gradient of the cost with respect to the pool output
    cache : (A_prev, hparameters) from :func:`pool_forward`
    mode : "max" (gradient to the first maximum of each window, row-major) or "average" (spread evenly)

    Returns
    -------
    dA_prev : (m, n_H_prev, n_W_prev, n_C) gradient with respect to A_prev; overlapping windows add up
    """
    dA, A_prev, f, stride = v.pool_cache(dA, cache, mode)
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros(A_prev.shape, dtype=v.float_dtype(dA, A_prev))

    for i in range(m):
        a_prev = A_prev[i]
        for h in range(n_H):
            vert_start = h * stride
            vert_end = vert_start + f
            for w in range(n_W):
                horiz_start = w * stride
                horiz_end = horiz_start + f
                for c in range(n_C):
                    if mode == "max":
                        a_prev_slice = a_prev[vert_start:vert_end, horiz_start:horiz_end, c]
                        mask = create_mask_from_window(a_prev_slice)
                        dA_prev[i, vert_start:vert_end, horiz_start:horiz_end, c] += mask * dA[i, h, w, c]
                    else:
                        da = dA[i, h, w, c]
                        shape = (f, f)
                        a = distribute_value(da, shape)
                        dA_prev[i, vert_start:vert_end, horiz_start:horiz_end, c] += a

    return dA_prev
