"""Bad input raises ValueError naming the problem and the shapes, identically in both implementations."""

from __future__ import annotations

import re

import numpy as np
import pytest

rng = np.random.default_rng(0)
A = rng.standard_normal((2, 5, 6, 3))
W = rng.standard_normal((3, 3, 3, 8))
b = rng.standard_normal((1, 1, 1, 8))
HP = {"stride": 1, "pad": 1}

CONV_FORWARD_BAD = [
    # (A_prev, W, b, hparameters, expected message fragment)
    (A[0], W, b, HP, "A_prev must be 4-D but has shape (5, 6, 3)"),
    (A, W[0], b, HP, "W must be 4-D but has shape (3, 3, 8)"),
    (
        rng.standard_normal((2, 5, 6, 5)),
        W,
        b,
        HP,
        "conv_forward: A_prev has 5 channels but W expects 3 (W.shape=(3, 3, 3, 8))",
    ),
    (A, W, b.reshape(8), HP, "b must have shape (1, 1, 1, 8) to match W.shape=(3, 3, 3, 8), got (8,)"),
    (A, W, rng.standard_normal((1, 1, 1, 7)), HP, "b must have shape (1, 1, 1, 8)"),
    (A, rng.standard_normal((3, 2, 3, 8)), b, HP, "W must be square"),
    (A, rng.standard_normal((8, 8, 3, 8)), b, HP, "window f=8 is larger than the padded input (7x8"),
    (A, W, b, {"stride": 0, "pad": 1}, "stride must be >= 1, got 0"),
    (A, W, b, {"stride": 1.5, "pad": 1}, "stride must be an integer, got 1.5"),
    (A, W, b, {"stride": 2.0, "pad": 1}, "stride must be an integer, got 2.0"),
    (A, W, b, {"stride": "2", "pad": 1}, "stride must be an integer, got '2'"),
    (A, W, b, {"stride": True, "pad": 1}, "stride must be an integer, got True"),
    (A, W, b, {"stride": 1, "pad": -1}, "pad must be >= 0, got -1"),
    (A, W, b, {"stride": 1}, "hparameters is missing ['pad']"),
    (A, W, b, {}, "hparameters is missing ['stride', 'pad']"),
    (A, W, b, [1, 1], "hparameters must be a dict"),
    (np.array([["a"]] * 4).reshape(1, 2, 2, 1), W[:, :, :1], b, HP, "A_prev must be numeric"),
]


@pytest.mark.parametrize(("A_prev", "W_", "b_", "hp", "message"), CONV_FORWARD_BAD)
def test_conv_forward_rejects(impl, A_prev, W_, b_, hp, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        impl.conv_forward(A_prev, W_, b_, hp)


def test_conv_forward_accepts_numpy_integer_hparameters(impl):
    Z, _ = impl.conv_forward(A, W, b, {"stride": np.int64(2), "pad": np.int32(1)})
    assert Z.shape == (2, 3, 3, 8)


def test_conv_backward_rejects_wrong_dZ(impl):
    Z, cache = impl.conv_forward(A, W, b, HP)
    assert Z.shape == (2, 5, 6, 8)
    with pytest.raises(
        ValueError, match=re.escape("dZ has shape (2, 5, 6, 7) but the cache gives Z shape (2, 5, 6, 8)")
    ):
        impl.conv_backward(Z[..., :7], cache)
    with pytest.raises(ValueError, match="cache must be the tuple"):
        impl.conv_backward(Z, cache[:3])


POOL_BAD = [
    (A, {"f": 2, "stride": 2}, "min", "mode must be one of ['max', 'average'], got 'min'"),
    (A, {"f": 0, "stride": 2}, "max", "f must be >= 1, got 0"),
    (A, {"f": 6, "stride": 1}, "max", "window f=6 is larger than the input (A_prev.shape=(2, 5, 6, 3))"),
    (A, {"f": 2, "stride": 2.0}, "max", "stride must be an integer"),
    (A, {"f": 2, "stride": 0}, "average", "stride must be >= 1"),
    (A, {"stride": 2}, "max", "hparameters is missing ['f']"),
    (A[0], {"f": 2, "stride": 2}, "max", "A_prev must be 4-D but has shape (5, 6, 3)"),
]


@pytest.mark.parametrize(("A_prev", "hp", "mode", "message"), POOL_BAD)
def test_pool_forward_rejects(impl, A_prev, hp, mode, message):
    with pytest.raises(ValueError, match=re.escape("pool_forward: " + message)):
        impl.pool_forward(A_prev, hp, mode)


def test_pool_backward_rejects(impl):
    P, cache = impl.pool_forward(A, {"f": 2, "stride": 2})
    assert P.shape == (2, 2, 3, 3)
    with pytest.raises(
        ValueError, match=re.escape("dA has shape (2, 3, 2, 3) but the cache gives A shape (2, 2, 3, 3)")
    ):
        impl.pool_backward(np.zeros((2, 3, 2, 3)), cache)
    with pytest.raises(
        ValueError, match=re.escape("pool_backward: mode must be one of ['max', 'average'], got 'avg'")
    ):
        impl.pool_backward(P, cache, mode="avg")
    with pytest.raises(ValueError, match="cache must be the tuple"):
        impl.pool_backward(P, (A,))


def test_small_functions_reject(impl):
    with pytest.raises(ValueError, match=re.escape("zero_pad: pad must be >= 0, got -1")):
        impl.zero_pad(A, -1)
    with pytest.raises(ValueError, match=re.escape("zero_pad: X must be 4-D but has shape (5, 6, 3)")):
        impl.zero_pad(A[0], 1)
    with pytest.raises(ValueError, match=re.escape("zero_pad: pad must be an integer, got 1.5")):
        impl.zero_pad(A, 1.5)
    with pytest.raises(
        ValueError, match=re.escape("a_slice_prev.shape=(3, 3, 3) must equal W.shape=(3, 3, 2)")
    ):
        impl.conv_single_step(W[..., 0], W[:, :, :2, 0], b[..., :1])
    with pytest.raises(ValueError, match="b must hold one value"):
        impl.conv_single_step(W[..., 0], W[..., 0], b)
    with pytest.raises(ValueError, match="x must not be empty"):
        impl.create_mask_from_window(np.zeros((0, 2)))
    with pytest.raises(ValueError, match=re.escape("distribute_value: n_H must be >= 1, got 0")):
        impl.distribute_value(1.0, (0, 2))
    with pytest.raises(ValueError, match="shape must be a pair"):
        impl.distribute_value(1.0, 3)
    with pytest.raises(ValueError, match="dz must be a single value"):
        impl.distribute_value(np.ones(2), (2, 2))
