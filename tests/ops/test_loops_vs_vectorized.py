"""Oracle 2: the vectorized ops equal the lab's loops on random configurations (property-based).

Shapes are drawn small (the loops are slow) but cover what the lab's happy path does not: H != W, strides
that do not tile the input, pad = 0, batch 1, one channel, f > stride and f < stride.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnlab.ops as vec
from cnnlab.ops import loops

TOL64 = 1e-12

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def conv_case(draw):
    m = draw(st.integers(1, 2))
    n_H, n_W = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    n_C_prev, n_C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad = draw(st.integers(0, 2))
    f = draw(st.integers(1, min(4, n_H + 2 * pad, n_W + 2 * pad)))
    stride = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    return (m, n_H, n_W, n_C_prev, n_C, f, stride, pad, seed)


@st.composite
def pool_case(draw):
    m = draw(st.integers(1, 2))
    n_H, n_W = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    n_C = draw(st.integers(1, 3))
    f = draw(st.integers(1, min(n_H, n_W, 4)))
    stride = draw(st.integers(1, 3))
    mode = draw(st.sampled_from(["max", "average"]))
    seed = draw(st.integers(0, 2**32 - 1))
    return (m, n_H, n_W, n_C, f, stride, mode, seed)


def _max_abs_rel(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    return np.max(np.abs(a - b), initial=0) / max(1.0, np.max(np.abs(b), initial=0))


@SETTINGS
@given(conv_case())
def test_conv_forward_backward_match(case):
    m, n_H, n_W, n_C_prev, n_C, f, stride, pad, seed = case
    rng = np.random.default_rng(seed)
    A_prev = rng.standard_normal((m, n_H, n_W, n_C_prev))
    W = rng.standard_normal((f, f, n_C_prev, n_C))
    b = rng.standard_normal((1, 1, 1, n_C))
    hp = {"stride": stride, "pad": pad}
    Z_ref, cache_ref = loops.conv_forward(A_prev, W, b, hp)
    Z, cache = vec.conv_forward(A_prev, W, b, hp)
    assert Z.shape == (m, (n_H - f + 2 * pad) // stride + 1, (n_W - f + 2 * pad) // stride + 1, n_C)
    assert _max_abs_rel(Z, Z_ref) < TOL64
    dZ = rng.standard_normal(Z.shape)
    for got, ref in zip(vec.conv_backward(dZ, cache), loops.conv_backward(dZ, cache_ref), strict=True):
        assert _max_abs_rel(got, ref) < TOL64


@SETTINGS
@given(pool_case())
def test_pool_forward_backward_match(case):
    m, n_H, n_W, n_C, f, stride, mode, seed = case
    rng = np.random.default_rng(seed)
    # Rounded values make ties common, so the first-maximum rule is exercised too.
    A_prev = np.round(rng.standard_normal((m, n_H, n_W, n_C)), 1)
    hp = {"f": f, "stride": stride}
    A_ref, cache_ref = loops.pool_forward(A_prev, hp, mode)
    A, cache = vec.pool_forward(A_prev, hp, mode)
    assert A.shape == (m, (n_H - f) // stride + 1, (n_W - f) // stride + 1, n_C)
    assert _max_abs_rel(A, A_ref) < TOL64
    dA = rng.standard_normal(A.shape)
    assert _max_abs_rel(vec.pool_backward(dA, cache, mode), loops.pool_backward(dA, cache_ref, mode)) < TOL64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64_agree_with_loops(dtype):
    rng = np.random.default_rng(7)
    A_prev = rng.standard_normal((2, 6, 5, 3)).astype(dtype)
    W = rng.standard_normal((3, 3, 3, 4)).astype(dtype)
    b = rng.standard_normal((1, 1, 1, 4)).astype(dtype)
    hp = {"stride": 2, "pad": 1}
    tol = 1e-5 if dtype == np.float32 else TOL64
    Z_ref, c_ref = loops.conv_forward(A_prev, W, b, hp)
    Z, c = vec.conv_forward(A_prev, W, b, hp)
    assert _max_abs_rel(Z, Z_ref) < tol
    dZ = rng.standard_normal(Z.shape).astype(dtype)
    for got, ref in zip(vec.conv_backward(dZ, c), loops.conv_backward(dZ, c_ref), strict=True):
        assert _max_abs_rel(got, ref) < tol
    for mode in ("max", "average"):
        P_ref, pc_ref = loops.pool_forward(A_prev, {"f": 2, "stride": 2}, mode)
        P, pc = vec.pool_forward(A_prev, {"f": 2, "stride": 2}, mode)
        assert _max_abs_rel(P, P_ref) < tol
        dP = rng.standard_normal(P.shape).astype(dtype)
        assert _max_abs_rel(vec.pool_backward(dP, pc, mode), loops.pool_backward(dP, pc_ref, mode)) < tol


def test_window_helpers_are_one_implementation():
    """create_mask_from_window and distribute_value act on one window: the vectorized module uses the
    lab's versions rather than a copy (checked against oracles in the test below and in test_lab_values)."""
    assert vec.create_mask_from_window is loops.create_mask_from_window
    assert vec.distribute_value is loops.distribute_value


@SETTINGS
@given(st.lists(st.integers(-3, 3), min_size=1, max_size=16), st.integers(1, 4))
def test_create_mask_and_distribute_value_against_oracles(values, cols):
    x = np.array(values, dtype=np.float64)
    x = x[: (x.size // cols) * cols].reshape(-1, cols) if x.size >= cols else x.reshape(1, -1)
    # Oracle: scan row-major, keep the first strictly greater value (PyTorch's tie rule).
    first = (0, 0)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            if x[i, j] > x[first]:
                first = (i, j)
    expected = np.zeros(x.shape, dtype=bool)
    expected[first] = True
    np.testing.assert_array_equal(vec.create_mask_from_window(x), expected)
    shape = x.shape
    np.testing.assert_allclose(
        vec.distribute_value(values[0], shape), np.full(shape, values[0] / (shape[0] * shape[1])), rtol=1e-15
    )
