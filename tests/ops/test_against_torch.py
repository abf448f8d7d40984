"""Oracle 3a: PyTorch in float64, forward output and every gradient, for both implementations."""

from __future__ import annotations

import numpy as np
import pytest

from tests.oracles import rel_error, torch_conv, torch_pool

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

TOL = 1e-12

# (m, n_H_prev, n_W_prev, n_C_prev, n_C, f, stride, pad): square and not, tiling and not, pad 0, batch 1,
# one channel, f > stride, f < stride, f = 1, a window that fills the padded input.
CONV_CASES = [
    (2, 7, 7, 5, 8, 3, 1, 1),
    (1, 6, 9, 1, 2, 3, 2, 0),
    (3, 5, 8, 2, 3, 2, 3, 1),
    (2, 4, 4, 3, 8, 2, 2, 2),
    (1, 5, 4, 3, 1, 1, 2, 0),
    (2, 3, 5, 2, 2, 5, 1, 1),
    (1, 8, 6, 4, 3, 4, 3, 2),
]

# (m, n_H_prev, n_W_prev, n_C, f, stride)
POOL_CASES = [
    (2, 4, 4, 3, 2, 2),
    (1, 5, 7, 1, 2, 2),
    (2, 5, 5, 3, 3, 2),
    (3, 6, 5, 2, 2, 1),
    (1, 7, 6, 2, 2, 3),
    (2, 4, 6, 1, 1, 1),
    (1, 5, 5, 2, 5, 1),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "m{}_{}x{}x{}_to{}_f{}_s{}_p{}".format(*c))
def test_conv_matches_torch(impl, case):
    m, n_H, n_W, n_C_prev, n_C, f, stride, pad = case
    rng = np.random.default_rng(sum(case))
    A_prev = rng.standard_normal((m, n_H, n_W, n_C_prev))
    W = rng.standard_normal((f, f, n_C_prev, n_C))
    b = rng.standard_normal((1, 1, 1, n_C))
    hp = {"stride": stride, "pad": pad}
    Z, cache = impl.conv_forward(A_prev, W, b, hp)
    dZ = rng.standard_normal(Z.shape)
    ref = torch_conv(A_prev, W, b, hp, dZ)
    assert rel_error(Z, ref["Z"]) < TOL
    dA_prev, dW, db = impl.conv_backward(dZ, cache)
    assert rel_error(dA_prev, ref["dA_prev"]) < TOL
    assert rel_error(dW, ref["dW"]) < TOL
    assert rel_error(db, ref["db"]) < TOL


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: "m{}_{}x{}x{}_f{}_s{}".format(*c))
def test_pool_matches_torch(impl, case, mode):
    m, n_H, n_W, n_C, f, stride = case
    rng = np.random.default_rng(sum(case))
    A_prev = rng.standard_normal((m, n_H, n_W, n_C))
    hp = {"f": f, "stride": stride}
    A, cache = impl.pool_forward(A_prev, hp, mode)
    dA = rng.standard_normal(A.shape)
    ref = torch_pool(A_prev, hp, mode, dA)
    assert rel_error(A, ref["A"]) < TOL
    assert rel_error(impl.pool_backward(dA, cache, mode), ref["dA_prev"]) < TOL


@pytest.mark.parametrize("stride", [1, 2])
def test_max_pool_ties_follow_torch(impl, stride):
    """Many ties (values in {0, 1, 2}): the gradient goes where PyTorch sends it, the first maximum."""
    rng = np.random.default_rng(3)
    A_prev = rng.integers(0, 3, size=(2, 6, 7, 3)).astype(np.float64)
    hp = {"f": 3, "stride": stride}
    A, cache = impl.pool_forward(A_prev, hp)
    dA = rng.standard_normal(A.shape)
    ref = torch_pool(A_prev, hp, "max", dA)
    np.testing.assert_array_equal(A, ref["A"])
    np.testing.assert_allclose(impl.pool_backward(dA, cache), ref["dA_prev"], rtol=0, atol=1e-15)


def test_lab_cnn_first_block_matches_torch():
    """The vectorized ops at the shape of CNNClassifier's first block (a small batch), float64."""
    import cnnlab.ops as ops

    rng = np.random.default_rng(0)
    A_prev = rng.standard_normal((2, 64, 64, 3))
    W = rng.standard_normal((3, 3, 3, 16)) * 0.2
    b = rng.standard_normal((1, 1, 1, 16))
    hp = {"stride": 1, "pad": 1}
    Z, cache = ops.conv_forward(A_prev, W, b, hp)
    dZ = rng.standard_normal(Z.shape)
    ref = torch_conv(A_prev, W, b, hp, dZ)
    for got, name in zip((Z, *ops.conv_backward(dZ, cache)), ("Z", "dA_prev", "dW", "db"), strict=True):
        assert rel_error(got, ref[name]) < TOL, name
    P, pcache = ops.pool_forward(Z, {"f": 2, "stride": 2})
    dP = rng.standard_normal(P.shape)
    pref = torch_pool(Z, {"f": 2, "stride": 2}, "max", dP)
    assert rel_error(P, pref["A"]) == 0
    assert rel_error(ops.pool_backward(dP, pcache), pref["dA_prev"]) == 0


def test_float32_close_to_torch_float64(impl):
    """float32 in, float32 out, and still close to the float64 reference."""
    rng = np.random.default_rng(11)
    A_prev = rng.standard_normal((1, 6, 5, 3))
    W = rng.standard_normal((3, 3, 3, 4))
    b = rng.standard_normal((1, 1, 1, 4))
    hp = {"stride": 1, "pad": 1}
    Z, cache = impl.conv_forward(A_prev.astype(np.float32), W.astype(np.float32), b.astype(np.float32), hp)
    dZ = rng.standard_normal(Z.shape)
    ref = torch_conv(
        A_prev.astype(np.float32), W.astype(np.float32), b.astype(np.float32), hp, dZ.astype(np.float32)
    )
    grads = impl.conv_backward(dZ.astype(np.float32), cache)
    for got, name in zip((Z, *grads), ("Z", "dA_prev", "dW", "db"), strict=True):
        assert got.dtype == np.float32, name
        assert rel_error(got, ref[name]) < 1e-5, name
