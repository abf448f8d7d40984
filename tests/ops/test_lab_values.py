"""Oracle 1: the values the lab notebooks print, for both implementations.

Each case seeds NumPy's global generator exactly as the notebook does and draws the same arrays in the same
order. Printed arrays carry 8 significant digits, so they are compared to 1e-7; printed scalars carry all
17 digits and are compared to 1e-12 relative (summation order may differ in the last bits).
"""

# ruff: noqa: NPY002  (the lab seeds NumPy's legacy global generator; the printed values depend on it)
from __future__ import annotations

import numpy as np
import pytest

REL = 1e-12
PRINTED = 1e-7


def test_zero_pad_shape_and_values(impl):
    np.random.seed(2023)
    x = np.random.randn(4, 3, 3, 2)
    x_pad = impl.zero_pad(x, 2)
    assert x_pad.shape == (4, 7, 7, 2)
    np.testing.assert_array_equal(x_pad[:, 2:5, 2:5, :], x)
    inner = np.zeros((7, 7), dtype=bool)
    inner[2:5, 2:5] = True
    assert np.all(x_pad[:, ~inner, :] == 0)


def test_conv_single_step(impl):
    np.random.seed(2023)
    a_slice_prev = np.random.randn(4, 3, 3)
    W = np.random.randn(4, 3, 3)
    b = np.random.randn(1, 1, 1)
    Z = impl.conv_single_step(a_slice_prev, W, b)
    assert np.ndim(Z) == 0
    assert float(Z) == pytest.approx(17.154767154043057, rel=REL)


def _lab_conv_2023(impl):
    np.random.seed(2023)
    A_prev = np.random.randn(10, 7, 7, 5)
    W = np.random.randn(3, 3, 5, 8)
    b = np.random.randn(1, 1, 1, 8)
    return impl.conv_forward(A_prev, W, b, {"pad": 1, "stride": 1})


def test_conv_forward_seed_2023(impl):
    Z, cache = _lab_conv_2023(impl)
    assert Z.shape == (10, 7, 7, 8)
    assert Z.mean() == pytest.approx(0.33376645114158293, rel=REL)
    expected = [
        4.1749337,
        9.00045401,
        1.79056239,
        -2.293963,
        -0.5189402,
        10.78547069,
        1.42173371,
        13.11009042,
    ]
    np.testing.assert_allclose(Z[3, 2, 1], expected, rtol=0, atol=PRINTED)
    assert len(cache) == 4 and cache[3] == {"pad": 1, "stride": 1}


def test_conv_backward_seed_2023(impl):
    Z, cache = _lab_conv_2023(impl)
    dA, dW, db = impl.conv_backward(Z, cache)
    assert (dA.shape, dW.shape, db.shape) == ((10, 7, 7, 5), (3, 3, 5, 8), (1, 1, 1, 8))
    assert dA.mean() == pytest.approx(1.7587047105902995, rel=REL)
    assert dW.mean() == pytest.approx(-30.84696464944313, rel=REL)
    assert db.mean() == pytest.approx(163.5455610593757, rel=REL)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("max", [[1.24312631, 0], [0, -1.05329248], [-1.03592891, 0]]),
        ("average", [[0.31078158, 0.10580814], [0.30923847, -0.2046901], [-0.00154311, -0.31049824]]),
    ],
)
def test_pool_backward_seed_2023(impl, mode, expected):
    np.random.seed(2023)
    A_prev = np.random.randn(5, 5, 3, 2)
    hparameters = {"stride": 1, "f": 2}
    A, cache = impl.pool_forward(A_prev, hparameters)  # the lab's forward uses the default mode
    dA = np.random.randn(5, 4, 2, 2)
    assert A.shape == dA.shape
    dA_prev = impl.pool_backward(dA, cache, mode=mode)
    assert dA_prev.shape == A_prev.shape
    np.testing.assert_allclose(dA_prev[1, 1], expected, rtol=0, atol=PRINTED)


def test_distribute_value(impl):
    a = impl.distribute_value(5, (7, 7))
    assert a.shape == (7, 7)
    np.testing.assert_allclose(a, 0.10204082, rtol=0, atol=PRINTED)
    assert a.sum() == pytest.approx(5.0, rel=REL)


def test_conv_forward_seed_1(impl):
    np.random.seed(1)
    A_prev = np.random.randn(2, 5, 7, 4)
    W = np.random.randn(3, 3, 4, 8)
    b = np.random.randn(1, 1, 1, 8)
    Z, _ = impl.conv_forward(A_prev, W, b, {"pad": 1, "stride": 2})
    assert Z.shape == (2, 3, 4, 8)
    assert Z.mean() == pytest.approx(0.5511276474566768, rel=REL)


def test_conv_backward_seed_1(impl):
    np.random.seed(1)
    A_prev = np.random.randn(10, 4, 4, 3)
    W = np.random.randn(2, 2, 3, 8)
    b = np.random.randn(1, 1, 1, 8)
    Z, cache = impl.conv_forward(A_prev, W, b, {"pad": 2, "stride": 2})
    assert Z.shape == (10, 4, 4, 8)
    dA, dW, db = impl.conv_backward(Z, cache)
    assert dA.mean() == pytest.approx(1.4524377775388075, rel=REL)
    assert dW.mean() == pytest.approx(1.7269914583139097, rel=REL)
    assert db.mean() == pytest.approx(7.839232564616838, rel=REL)


def test_pool_forward_seed_1(impl):
    np.random.seed(1)
    A_prev = np.random.randn(2, 5, 5, 3)
    A, _ = impl.pool_forward(A_prev, {"stride": 2, "f": 3}, mode="max")
    assert A.shape == (2, 2, 2, 3)
    expected = [
        [[1.74481176, 0.90159072, 1.65980218], [1.74481176, 1.6924546, 1.65980218]],
        [[1.13162939, 1.51981682, 2.18557541], [1.13162939, 1.6924546, 2.18557541]],
    ]
    np.testing.assert_allclose(A[0], expected, rtol=0, atol=PRINTED)
