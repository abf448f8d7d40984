"""Beyond the lab's happy path: dtypes, pad = 0, odd shapes, max-pool ties, caches never written into."""

from __future__ import annotations

import numpy as np
import pytest

import cnnlab.ops as vec


def _conv_direct(A_prev, W, b, stride, pad):
    """Z by the definition, written independently: a sum over the f*f offsets of the padded input."""
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, n_C = W.shape[0], W.shape[3]
    A_pad = np.zeros((m, n_H_prev + 2 * pad, n_W_prev + 2 * pad, A_prev.shape[3]))
    A_pad[:, pad : pad + n_H_prev, pad : pad + n_W_prev] = A_prev
    n_H = (n_H_prev - f + 2 * pad) // stride + 1
    n_W = (n_W_prev - f + 2 * pad) // stride + 1
    Z = np.broadcast_to(b.reshape(n_C), (m, n_H, n_W, n_C)).copy()
    for i in range(f):
        for j in range(f):
            patch = A_pad[:, i : i + stride * n_H : stride, j : j + stride * n_W : stride, :][:, :n_H, :n_W]
            Z += np.einsum("mhwc,cd->mhwd", patch, W[i, j])
    return Z


@pytest.mark.parametrize(
    ("shape", "f", "stride", "pad"),
    [
        ((1, 5, 5, 1), 3, 1, 0),  # pad = 0: the lab's X[pad:-pad] would be empty here
        ((2, 4, 7, 2), 3, 2, 0),  # H != W, stride that does not tile the width
        ((1, 6, 3, 3), 2, 3, 1),  # f < stride: some inputs are skipped and get zero gradient
        ((2, 5, 6, 1), 4, 1, 2),  # f > stride, one channel
    ],
)
def test_conv_edge_shapes(impl, shape, f, stride, pad):
    rng = np.random.default_rng(5)
    A_prev = rng.standard_normal(shape)
    W = rng.standard_normal((f, f, shape[3], 2))
    b = rng.standard_normal((1, 1, 1, 2))
    Z, cache = impl.conv_forward(A_prev, W, b, {"stride": stride, "pad": pad})
    np.testing.assert_allclose(Z, _conv_direct(A_prev, W, b, stride, pad), rtol=1e-12, atol=1e-12)
    dA_prev, dW, db = impl.conv_backward(np.ones_like(Z), cache)
    assert dA_prev.shape == A_prev.shape and dW.shape == W.shape and db.shape == b.shape
    np.testing.assert_allclose(db.reshape(-1), Z[..., 0].size)
    if f < stride:
        # Rows/columns that no window touches get exactly zero gradient.
        covered = np.zeros(shape[1] + 2 * pad, dtype=bool)
        for h in range(Z.shape[1]):
            covered[h * stride : h * stride + f] = True
        untouched = ~covered[pad : pad + shape[1]]
        assert untouched.any()
        assert np.all(dA_prev[:, untouched] == 0)


def test_zero_pad_zero_returns_copy(impl):
    x = np.arange(24.0).reshape(1, 2, 3, 4)
    out = impl.zero_pad(x, 0)
    np.testing.assert_array_equal(out, x)
    assert not np.shares_memory(out, x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(impl, dtype):
    rng = np.random.default_rng(0)
    A_prev = rng.standard_normal((2, 4, 5, 2)).astype(dtype)
    W = rng.standard_normal((3, 3, 2, 3)).astype(dtype)
    b = rng.standard_normal((1, 1, 1, 3)).astype(dtype)
    assert impl.zero_pad(A_prev, 1).dtype == dtype
    assert impl.conv_single_step(A_prev[0, :3, :3], W[..., 0], b[..., 0]).dtype == dtype
    Z, cache = impl.conv_forward(A_prev, W, b, {"stride": 1, "pad": 1})
    assert Z.dtype == dtype
    assert all(g.dtype == dtype for g in impl.conv_backward(Z, cache))
    for mode in ("max", "average"):
        P, pcache = impl.pool_forward(A_prev, {"f": 2, "stride": 2}, mode)
        assert P.dtype == dtype
        assert impl.pool_backward(P, pcache, mode).dtype == dtype
    assert impl.distribute_value(dtype(2.0), (2, 2)).dtype == dtype


def test_integer_input_computes_in_float64(impl):
    A_prev = np.arange(2 * 4 * 4 * 1).reshape(2, 4, 4, 1)
    P, _ = impl.pool_forward(A_prev, {"f": 2, "stride": 2}, "average")
    assert P.dtype == np.float64
    np.testing.assert_array_equal(P[0, 0, 0, 0], (0 + 1 + 4 + 5) / 4)


def test_create_mask_marks_only_first_maximum(impl):
    x = np.array([[1.0, 3.0], [3.0, 3.0]])
    np.testing.assert_array_equal(impl.create_mask_from_window(x), [[False, True], [False, False]])
    assert impl.create_mask_from_window(np.zeros((3, 3))).sum() == 1
    assert impl.create_mask_from_window(np.zeros((3, 3)))[0, 0]


@pytest.mark.parametrize(("f", "stride"), [(2, 2), (3, 1), (2, 1), (3, 2)])
def test_max_pool_ties_go_to_first_maximum(impl, f, stride):
    """All-equal input: every window's gradient lands on its top-left element (first in row-major order)."""
    A_prev = np.full((1, 5, 6, 2), 7.0)
    A, cache = impl.pool_forward(A_prev, {"f": f, "stride": stride})
    dA = np.arange(1.0, A.size + 1).reshape(A.shape)
    dA_prev = impl.pool_backward(dA, cache)
    expected = np.zeros_like(A_prev)
    for h in range(A.shape[1]):
        for w in range(A.shape[2]):
            expected[:, h * stride, w * stride, :] += dA[:, h, w, :]
    np.testing.assert_array_equal(dA_prev, expected)


def _readonly(*arrays):
    out = []
    for a in arrays:
        a = a.copy()
        a.setflags(write=False)
        out.append(a)
    return out


@pytest.mark.parametrize("pad", [0, 1])
def test_never_writes_into_inputs_or_caches(impl, pad):
    """Read-only inputs work (any write would raise) and outputs never alias the cached arrays."""
    rng = np.random.default_rng(1)
    A_prev, W, b = _readonly(
        rng.standard_normal((2, 5, 4, 3)),
        rng.standard_normal((3, 3, 3, 2)),
        rng.standard_normal((1, 1, 1, 2)),
    )
    Z, cache = impl.conv_forward(A_prev, W, b, {"stride": 1, "pad": pad})
    assert cache[0] is A_prev and cache[1] is W and cache[2] is b
    (dZ,) = _readonly(rng.standard_normal(Z.shape))
    grads = impl.conv_backward(dZ, cache)
    for g in grads:
        g[...] = 0  # the gradients are the caller's own, writable arrays
        assert not any(np.shares_memory(g, x) for x in (A_prev, W, b, dZ, Z))
    for mode in ("max", "average"):
        P, pcache = impl.pool_forward(A_prev, {"f": 2, "stride": 1}, mode)
        assert pcache[0] is A_prev and not np.shares_memory(P, A_prev)
        (dP,) = _readonly(rng.standard_normal(P.shape))
        dA_prev = impl.pool_backward(dP, pcache, mode)
        assert not np.shares_memory(dA_prev, A_prev)


def test_conv_forward_cols_fast_path_matches():
    rng = np.random.default_rng(2)
    A_prev = rng.standard_normal((2, 6, 5, 3)).astype(np.float32)
    W = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    b = rng.standard_normal((1, 1, 1, 4)).astype(np.float32)
    hp = {"stride": 2, "pad": 1}
    Z, cache, cols = vec.conv_forward_cols(A_prev, W, b, hp)
    Z2, cache2 = vec.conv_forward(A_prev, W, b, hp)
    np.testing.assert_array_equal(Z, Z2)
    dZ = rng.standard_normal(Z.shape).astype(np.float32)
    for g1, g2 in zip(vec.conv_backward(dZ, cache, cols=cols), vec.conv_backward(dZ, cache2), strict=True):
        np.testing.assert_array_equal(g1, g2)
    with pytest.raises(ValueError, match="cols has shape"):
        vec.conv_backward(dZ, cache, cols=cols[1:])


def test_non_contiguous_inputs(impl):
    """Strided and transposed views give the same results as their contiguous copies."""
    rng = np.random.default_rng(9)
    A_big = rng.standard_normal((2, 10, 7, 6))
    A_prev = A_big[:, ::2, :, 1::2]  # (2, 5, 7, 3), not contiguous
    W = rng.standard_normal((2, 3, 3, 3)).transpose(1, 2, 3, 0)  # (3, 3, 3, 2) view
    b = rng.standard_normal((1, 1, 1, 2))
    for pad in (0, 1):
        hp = {"stride": 1, "pad": pad}
        Z, cache = impl.conv_forward(A_prev, W, b, hp)
        Z_c, cache_c = impl.conv_forward(A_prev.copy(), W.copy(), b, hp)
        np.testing.assert_allclose(Z, Z_c, rtol=1e-13, atol=1e-13)
        dZ = rng.standard_normal(Z.shape[::-1]).T  # a transposed view of the right shape
        for g, g_c in zip(impl.conv_backward(dZ, cache), impl.conv_backward(dZ.copy(), cache_c), strict=True):
            np.testing.assert_allclose(g, g_c, rtol=1e-13, atol=1e-13)
    P, pc = impl.pool_forward(A_prev, {"f": 2, "stride": 1})
    P_c, pc_c = impl.pool_forward(A_prev.copy(), {"f": 2, "stride": 1})
    np.testing.assert_array_equal(P, P_c)
    dP = rng.standard_normal(P.shape[::-1]).T
    np.testing.assert_array_equal(impl.pool_backward(dP, pc), impl.pool_backward(dP.copy(), pc_c))
