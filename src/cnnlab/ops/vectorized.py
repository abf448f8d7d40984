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
  ``as_strided`` (a read-only view) and copied into the im2col matrix ``cols (rows, f*f*n_C_prev)``, which
  is multiplied by ``W.reshape(f*f*n_C_prev, n_C)`` (BLAS). This runs a few images at a time
  (:data:`CHUNK_BYTES` of ``cols``), so each chunk is still in cache when the matmul reads it.
- conv backward: ``dW = cols.T @ dZ`` (cols rebuilt chunk by chunk, or passed in from
  :func:`conv_forward_cols`), ``db = ones @ dZ`` (a matmul beats ``sum(axis=0)`` on tall arrays), and
  ``dA_prev`` by col2im: ``dZ @ W[i, j].T`` for every kernel offset, each added back onto the input
  positions it came from -- ``f*f`` strided additions, no ``np.add.at``. ``compute_dA_prev=False`` skips
  ``dA_prev`` (a network's first layer). For inputs with at most :data:`SMALL_C` channels (RGB images)
  the im2col matrix is stored K-major and col2im accumulates channels-first, so copies and additions
  run along image rows rather than over 3-element pixels.
- pooling: one whole-array strided operation per window offset (``f*f`` of them). Max-pool backward
  recomputes each window's maximum and walks the offsets in row-major order: the first position equal to
  the maximum takes the gradient that is left, so the lab's cache is enough and ties follow PyTorch.
  Non-overlapping windows (``stride >= f``) write each input once; overlapping ones add up.
- chunks run in a few worker threads (:mod:`cnnlab.ops._threads`, ``CNNLAB_OPS_THREADS``), with OpenBLAS
  single-threaded meanwhile; each chunk writes only its own images of the output.
- temporaries (padded input, im2col and col2im chunks, pooling masks) live in per-thread scratch arrays
  reused from call to call: fresh multi-megabyte arrays cost page faults every time. Returned arrays are
  always new, and nothing is written into the caller's arrays.

Windows containing NaN give NaN outputs; where their gradient goes is not specified.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnlab.ops import _validate as v
from cnnlab.ops._threads import run_chunks

# Both work on one window and have nothing to vectorize: the lab's versions serve here too.
from cnnlab.ops.loops import create_mask_from_window, distribute_value

__all__ = [
    "clear_workspace",
    "conv_backward",
    "conv_forward",
    "conv_forward_cols",
    "conv_single_step",
    "create_mask_from_window",
    "distribute_value",
    "pool_backward",
    "pool_forward",
    "zero_pad",
]


# --------------------------------------------------------------------------------------------- helpers
#: Target size of one chunk of the im2col matrix: small enough to stay in a core's L2 cache between being
#: written and being read by the matmul (the whole matrix of a (32, 32, 32, 16) input is 19 MB).
CHUNK_BYTES = 2 << 20
#: Up to this many input channels, col2im accumulates channels-first (faster for RGB input).
SMALL_C = 4


class _Workspace(threading.local):
    """Per-thread scratch arrays reused between calls, keyed by (purpose, shape, dtype).

    Fresh multi-megabyte temporaries cost page faults on every call (about 20 ms per training step of the
    lab's CNN); reusing them does not. Scratch arrays never leave this module: every returned array is new.
    """

    def __init__(self) -> None:
        self.buffers: OrderedDict[tuple, np.ndarray] = OrderedDict()


_workspace = _Workspace()
_MAX_BUFFERS = 64  # per thread; the lab CNN uses about 25


def _scratch(purpose: object, shape: tuple[int, ...], dtype: np.dtype, fill: float = 0) -> np.ndarray:
    """A reused array for ``purpose``; filled with ``fill`` when first made, later holding what was left."""
    key = (purpose, shape, np.dtype(dtype).str)
    buffers = _workspace.buffers
    arr = buffers.pop(key, None)
    if arr is None:
        arr = np.full(shape, fill, dtype=dtype)
        while len(buffers) >= _MAX_BUFFERS:
            buffers.popitem(last=False)
    buffers[key] = arr
    return arr


def clear_workspace() -> None:
    """Free this thread's scratch arrays (they are rebuilt on demand)."""
    _workspace.buffers.clear()


def _chunk(m: int, bytes_per_image: int) -> int:
    """Images per chunk so that a chunk holds about :data:`CHUNK_BYTES`."""
    return max(1, min(m, CHUNK_BYTES // max(1, bytes_per_image)))


def _pad(X: np.ndarray, pad: int, dtype: np.dtype) -> np.ndarray:
    """X (m, n_H, n_W, n_C) as a new ``dtype`` array with ``pad`` zeros around H and W."""
    m, n_H, n_W, n_C = X.shape
    out = np.zeros((m, n_H + 2 * pad, n_W + 2 * pad, n_C), dtype=dtype)
    out[:, pad : pad + n_H, pad : pad + n_W, :] = X
    return out


def _padded_scratch(X: np.ndarray, pad: int, dtype: np.dtype) -> np.ndarray:
    """X zero-padded in a reused scratch array (X itself when no padding or cast is needed).

    The key includes ``pad``, so the border of a given buffer is never written and stays zero.
    """
    if pad == 0 and X.dtype == dtype:
        return X
    m, n_H, n_W, n_C = X.shape
    out = _scratch(("pad", pad), (m, n_H + 2 * pad, n_W + 2 * pad, n_C), dtype)
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


def _span(n_out: int, n_in: int, k: int, stride: int, pad: int) -> tuple[slice, slice]:
    """Output positions ``h`` whose input row ``h*stride + k - pad`` is inside ``[0, n_in)``, and those rows.

    Returns ``(out_slice, in_slice)``; both are empty when the kernel offset ``k`` only ever sees padding.
    """
    lo = max(0, -((k - pad) // stride))  # ceil((pad - k) / stride)
    hi = min(n_out, (n_in - 1 + pad - k) // stride + 1)
    if hi <= lo:
        return slice(0, 0), slice(0, 0)
    first = lo * stride + k - pad
    return slice(lo, hi), slice(first, first + (hi - lo - 1) * stride + 1, stride)


def _chunks(m: int, n: int) -> list[tuple[int, int]]:
    """``(start, end)`` image ranges of ``n`` images (the last may be shorter)."""
    return [(s, min(m, s + n)) for s in range(0, m, n)]


def _im2col_chunk(A_pad, s, e, f, stride, n_H, n_W, n, dtype) -> np.ndarray:
    """This thread's im2col matrix ``(rows, f*f*n_C_prev)`` of images ``s:e`` (reused scratch memory).

    With few channels (an RGB image) it is stored K-major, ``(f, f, n_C_prev, rows)``, and returned
    transposed: each of the ``f*f`` copies then moves whole image rows instead of 3-element pixels.
    """
    n_C_prev = A_pad.shape[3]
    P, K = n_H * n_W, f * f * n_C_prev
    rows = (e - s) * P
    if n_C_prev <= SMALL_C:
        cT = _scratch("colsT", (K, n * P), dtype)[:, :rows]
        c6 = cT.reshape(f, f, n_C_prev, e - s, n_H, n_W)  # splits axes only: always a view
        for i in range(f):
            for j in range(f):
                c6[i, j] = _offset(A_pad[s:e], i, j, stride, n_H, n_W).transpose(3, 0, 1, 2)
        return cT.T
    c = _scratch("cols", (n * P, K), dtype)[:rows]
    c.reshape(e - s, n_H, n_W, f, f, n_C_prev)[...] = _windows(A_pad[s:e], f, stride, n_H, n_W)
    return c


def _conv(A_prev, W, b, stride, pad, out_shape, dtype, keep_cols):
    """Z = im2col(A_prev) @ W + b, chunk by chunk of images; also the whole im2col matrix if ``keep_cols``."""
    m, n_H, n_W, n_C = out_shape
    f, n_C_prev = W.shape[0], W.shape[2]
    K, P = f * f * n_C_prev, n_H * n_W
    A_pad = _padded_scratch(A_prev, pad, dtype)
    W2 = W.reshape(K, n_C).astype(dtype, copy=False)
    bias = b.reshape(n_C).astype(dtype, copy=False)
    Z = np.empty((m * P, n_C), dtype=dtype)  # every element is written by the matmul
    cols = np.empty((m * P, K), dtype=dtype) if keep_cols else None
    n = _chunk(m, P * K * dtype.itemsize)

    def chunk(span: tuple[int, int]) -> None:
        s, e = span
        if keep_cols:  # a slice of the returned matrix
            c = cols[s * P : e * P]
            c.reshape(e - s, n_H, n_W, f, f, n_C_prev)[...] = _windows(A_pad[s:e], f, stride, n_H, n_W)
        else:
            c = _im2col_chunk(A_pad, s, e, f, stride, n_H, n_W, n, dtype)
        z = Z[s * P : e * P]
        np.matmul(c, W2, out=z)
        z += bias

    run_chunks(chunk, _chunks(m, n))
    return Z.reshape(m, n_H, n_W, n_C), cols


def _conv_grads(dZ, A_prev, W, stride, pad, dtype, cols, compute_dA_prev):
    """dA_prev (col2im of dZ @ W.T; None unless ``compute_dA_prev``), dW = cols.T @ dZ, db = ones @ dZ."""
    m, n_H, n_W, n_C = dZ.shape
    _, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    f = W.shape[0]
    K, P = f * f * n_C_prev, n_H * n_W
    dZ2 = np.ascontiguousarray(dZ, dtype=dtype).reshape(m * P, n_C)
    n = _chunk(m, P * K * dtype.itemsize)
    A_pad = _padded_scratch(A_prev, pad, dtype) if cols is None else None
    dA_prev = np.zeros(A_prev.shape, dtype=dtype) if compute_dA_prev else None
    # col2im layout. Few input channels (an RGB image): dcols.T = W @ dZ.T, (f, f, n_C_prev, rows), added
    # into a channels-first buffer, so the adds run along image rows rather than 3-element pixels.
    # Otherwise one (n_C, n_C_prev) matrix per kernel offset, so each offset's block of dcols is contiguous.
    channels_first = n_C_prev <= SMALL_C
    if channels_first:
        W_all = np.ascontiguousarray(W.reshape(K, n_C), dtype=dtype)
    else:
        W_offsets = np.ascontiguousarray(W.reshape(f * f, n_C_prev, n_C).transpose(0, 2, 1), dtype=dtype)
    spans_h = [_span(n_H, n_H_prev, i, stride, pad) for i in range(f)]
    spans_w = [_span(n_W, n_W_prev, j, stride, pad) for j in range(f)]

    def chunk(span: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        s, e = span
        rows = slice(s * P, e * P)
        g = dZ2[rows]
        c = _im2col_chunk(A_pad, s, e, f, stride, n_H, n_W, n, dtype) if cols is None else cols[rows]
        dW_part = c.T @ g
        db_part = _scratch("ones", (n * P,), dtype, fill=1)[: (e - s) * P] @ g
        if compute_dA_prev and channels_first:
            dcT = _scratch("dcolsT", (K, n * P), dtype)[:, : (e - s) * P]
            np.matmul(W_all, g.T, out=dcT)
            blocks = dcT.reshape(f, f, n_C_prev, e - s, n_H, n_W)
            acc = _scratch("dA_T", (n_C_prev, n, n_H_prev, n_W_prev), dtype)[:, : e - s]
            acc.fill(0)
            for i, (out_h, in_h) in enumerate(spans_h):
                for j, (out_w, in_w) in enumerate(spans_w):
                    acc[:, :, in_h, in_w] += blocks[i, j][:, :, out_h, out_w]
            dA_prev[s:e] = acc.transpose(1, 2, 3, 0)
        elif compute_dA_prev:
            # dcols[k] = dZ @ W[i, j].T for each kernel offset k = i*f + j: (f*f, rows, n_C_prev).
            dc = _scratch("dcols", (f * f, n * P, n_C_prev), dtype)[:, : (e - s) * P]
            np.matmul(g, W_offsets, out=dc)
            dA = dA_prev[s:e]
            # col2im: add each offset's block back onto the inputs it came from (f*f strided adds, no
            # np.add.at); offset-major blocks make every add read contiguous memory.
            for i, (out_h, in_h) in enumerate(spans_h):
                for j, (out_w, in_w) in enumerate(spans_w):
                    block = dc[i * f + j].reshape(e - s, n_H, n_W, n_C_prev)
                    dA[:, in_h, in_w, :] += block[:, out_h, out_w, :]
        return dW_part, db_part

    parts = run_chunks(chunk, _chunks(m, n))
    dW2, db = parts[0]
    for dW_part, db_part in parts[1:]:  # in chunk order: the result does not depend on the threads
        dW2 = dW2 + dW_part
        db = db + db_part
    return dA_prev, dW2.reshape(W.shape).astype(dtype, copy=False), db.reshape(1, 1, 1, n_C)


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

    Returns ``(Z, cache, cols)`` with ``cols (m*n_H*n_W, f*f*n_C_prev)`` in the result dtype (a new array),
    rows in (i, h, w) order and columns in W's (f, f, n_C_prev) order. Passing ``cols=cols`` to
    :func:`conv_backward` saves rebuilding it; the lab's cache is unchanged.
    """
    A_prev, W, b, stride, pad, out_shape = v.conv_params(A_prev, W, b, hparameters)
    dtype = v.float_dtype(A_prev, W, b)
    Z, cols = _conv(A_prev, W, b, stride, pad, out_shape, dtype, keep_cols=True)
    return Z, (A_prev, W, b, hparameters), cols


def conv_forward(
    A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, hparameters: dict[str, int]
) -> tuple[np.ndarray, tuple]:
    """Forward pass of a conv layer (cross-correlation) by im2col + matmul.

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
    A_prev, W, b, stride, pad, out_shape = v.conv_params(A_prev, W, b, hparameters)
    dtype = v.float_dtype(A_prev, W, b)
    Z, _ = _conv(A_prev, W, b, stride, pad, out_shape, dtype, keep_cols=False)
    return Z, (A_prev, W, b, hparameters)


def conv_backward(
    dZ: np.ndarray, cache: tuple, cols: np.ndarray | None = None, *, compute_dA_prev: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Backward pass of a conv layer: im2col for dW, col2im for dA_prev.

    Parameters
    ----------
    dZ : (m, n_H, n_W, n_C) gradient of the cost with respect to Z
    cache : (A_prev, W, b, hparameters) from :func:`conv_forward`
    cols : optional im2col matrix of A_prev from :func:`conv_forward_cols` (rebuilt when None)
    compute_dA_prev : False skips dA_prev and returns None in its place (a network's first layer,
        whose input needs no gradient)

    Returns
    -------
    dA_prev : (m, n_H_prev, n_W_prev, n_C_prev), ``col2im(dZ @ W.reshape(f*f*n_C_prev, n_C).T)``
    dW : (f, f, n_C_prev, n_C), ``cols.T @ dZ``
    db : (1, 1, 1, n_C), ``dZ`` summed over m, n_H, n_W
    """
    dZ, A_prev, W, b, stride, pad = v.conv_cache(dZ, cache)
    dtype = v.float_dtype(dZ, A_prev, W, b)
    if cols is not None:
        m, n_H, n_W, _ = dZ.shape
        expected = (m * n_H * n_W, W.shape[0] * W.shape[1] * W.shape[2])
        if cols.shape != expected or cols.dtype != dtype:
            raise ValueError(
                f"conv_backward: cols has shape {cols.shape} and dtype {cols.dtype}, expected {expected} "
                f"and {dtype} (pass the cols that conv_forward_cols returned with this cache)"
            )
    return _conv_grads(dZ, A_prev, W, stride, pad, dtype, cols, compute_dA_prev)


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
    m, n_H, n_W, n_C = dA.shape
    dtype = v.float_dtype(dA, A_prev)
    dA_prev = np.zeros(A_prev.shape, dtype=dtype)
    overlapping = stride < f  # then several windows send gradient to the same input and it adds up
    offsets = [(k // f, k % f) for k in range(f * f)]
    if mode == "average":
        share = np.multiply(dA, dtype.type(1) / dtype.type(f * f), dtype=dtype)
        for i, j in offsets:
            dest = _offset(dA_prev, i, j, stride, n_H, n_W)
            if overlapping:
                dest += share
            else:
                np.copyto(dest, share)
        return dA_prev

    # Max: recompute each window's maximum, then walk the window in row-major order; the first position
    # equal to the maximum takes what is left of the window's gradient (``rem``), which is then spent.
    # Plain ufuncs only (multiply by the bool mask, subtract): ``np.copyto(where=)`` is ~10x slower.
    n = _chunk(m, A_prev[0].nbytes)
    out_shape = (n, n_H, n_W, n_C)

    def chunk(span: tuple[int, int]) -> None:
        s, e = span
        X, D, G = A_prev[s:e], dA_prev[s:e], dA[s:e]
        mx = _scratch("pool_max", out_shape, A_prev.dtype)[: e - s]
        rem = _scratch("pool_rem", out_shape, dtype)[: e - s]
        hit = _scratch("pool_hit", out_shape, np.dtype(bool))[: e - s]
        tmp = _scratch("pool_tmp", out_shape, dtype)[: e - s] if overlapping else None
        views = [_offset(X, i, j, stride, n_H, n_W) for i, j in offsets]
        dests = [_offset(D, i, j, stride, n_H, n_W) for i, j in offsets]
        if len(views) == 1:
            np.copyto(mx, views[0])
        else:
            np.maximum(views[0], views[1], out=mx)
        for view in views[2:]:
            np.maximum(mx, view, out=mx)
        left = G  # the gradient not yet given to a position: all of it before the first offset
        for view, dest in zip(views[:-1], dests[:-1], strict=True):
            np.equal(view, mx, out=hit)
            if overlapping:
                got = np.multiply(left, hit, out=tmp)
                dest += got
            else:
                got = np.multiply(left, hit, out=dest)  # windows are disjoint: dest is written once
            left = np.subtract(left, got, out=rem)
        # Whatever is left belongs to the last offset: its window's maximum was not found earlier.
        if overlapping:
            dests[-1] += left
        else:
            np.copyto(dests[-1], left)

    # Chunks are whole images, so overlapping windows never make two chunks write the same input.
    run_chunks(chunk, _chunks(m, n))
    return dA_prev
