"""Each layer of cnnlab.nn against centred differences, and the layers' own contracts."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.nn import AvgPool2D, Conv2D, Dense, Dropout, Flatten, Linear, MaxPool2D, ReLU
from cnnlab.ops import loops
from tests.oracles import gradcheck, nhwc_to_nchw, rel_error

TOL = 1e-7


def _check_layer(layer, x, seed=0):
    """Gradient check of ``layer`` w.r.t. its input and every parameter (float64)."""
    names = list(layer.params)

    def forward(x, **params):
        for k in names:
            layer.params[k] = params[k]
        return layer.forward(x)

    def backward(upstream):
        forward(x, **{k: inputs[k] for k in names})
        dx = layer.backward(upstream)
        return {"x": dx, **{k: layer.grads[k] for k in names}}

    inputs = {"x": x, **{k: v.astype(np.float64) for k, v in layer.params.items()}}
    errors = gradcheck(forward, backward, inputs, seed=seed)
    assert set(errors) == {"x", *names}
    for name, err in errors.items():
        assert err < TOL, f"{type(layer).__name__} d{name}: rel error {err:.2e}"


@pytest.mark.parametrize(
    ("stride", "padding", "shape"), [(1, 1, (2, 5, 6, 3)), (2, 0, (1, 7, 5, 2)), (1, 2, (2, 4, 4, 1))]
)
def test_conv2d_gradients(stride, padding, shape):
    rng = np.random.default_rng(1)
    layer = Conv2D(shape[3], 4, 3, stride, padding, rng=rng, dtype=np.float64)
    layer.params["bias"] = rng.standard_normal(layer.params["bias"].shape)
    _check_layer(layer, rng.standard_normal(shape))


def test_conv2d_runs_on_the_loops_reference():
    """The layer only calls its ops module: with ops.loops it gives the vectorized result."""
    rng = np.random.default_rng(2)
    fast = Conv2D(3, 5, 3, 1, 1, rng=np.random.default_rng(0), dtype=np.float64)
    slow = Conv2D(3, 5, 3, 1, 1, rng=np.random.default_rng(0), dtype=np.float64, ops=loops)
    x = rng.standard_normal((2, 5, 4, 3))
    dout = rng.standard_normal((2, 5, 4, 5))
    assert rel_error(fast.forward(x), slow.forward(x)) < 1e-12
    assert rel_error(fast.backward(dout), slow.backward(dout)) < 1e-12
    for k in ("weight", "bias"):
        assert rel_error(fast.grads[k], slow.grads[k]) < 1e-12


@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
@pytest.mark.parametrize(("k", "stride"), [(2, None), (3, 2), (2, 1)])
def test_pool_gradients(cls, k, stride):
    rng = np.random.default_rng(3)
    _check_layer(cls(k, stride), rng.standard_normal((2, 6, 7, 3)))


def test_pool_stride_defaults_to_kernel_size():
    assert MaxPool2D(3).stride == 3 and AvgPool2D(2).hparameters == {"f": 2, "stride": 2}


def test_relu_and_linear_gradients():
    rng = np.random.default_rng(4)
    _check_layer(ReLU(), rng.standard_normal((3, 4, 5, 2)))
    _check_layer(Linear(6, 4, rng=rng, init="torch", dtype=np.float64), rng.standard_normal((5, 6)))
    assert Dense is Linear


def test_relu_gradient_at_zero_is_zero():
    relu = ReLU()
    relu.forward(np.array([[-1.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(relu.backward(np.ones((1, 3))), [[0.0, 0.0, 1.0]])


def test_flatten_uses_pytorch_order():
    """(N, H, W, C) flattens as PyTorch's (N, C, H, W) does, and backward undoes it."""
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    layer = Flatten()
    out = layer.forward(x)
    np.testing.assert_array_equal(out, nhwc_to_nchw(x).reshape(2, -1))
    np.testing.assert_array_equal(layer.backward(out), x)
    _check_layer(Flatten(), np.random.default_rng(5).standard_normal((2, 3, 2, 4)))


def test_dropout_train_and_eval():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((200, 50)).astype(np.float32)
    layer = Dropout(0.3, rng=np.random.default_rng(0))
    out = layer.forward(x)
    assert out.dtype == np.float32
    kept = out != 0
    assert 0.65 < kept.mean() < 0.75
    np.testing.assert_allclose(out[kept], x[kept] / 0.7, rtol=1e-6)
    dx = layer.backward(np.ones_like(x))
    np.testing.assert_allclose(dx, kept / np.float32(0.7), rtol=1e-6)
    layer.training = False
    assert layer.forward(x) is x and layer.backward(x) is x


def test_dropout_rejects_bad_p():
    with pytest.raises(ValueError, match="p must be in"):
        Dropout(1.0)


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="backward called before forward"):
        Conv2D(1, 1, 1).backward(np.zeros((1, 1, 1, 1), np.float32))


def test_linear_rejects_wrong_input():
    with pytest.raises(ValueError, match=r"Linear: expected input \(N, 6\) but got shape \(2, 5\)"):
        Linear(6, 2).forward(np.zeros((2, 5), np.float32))


def test_float32_stays_float32():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    for layer in (Conv2D(3, 4, 3, 1, 1, rng=rng), ReLU(), MaxPool2D(2), Flatten(), Linear(36, 2, rng=rng)):
        if isinstance(layer, Linear):
            x = x.reshape(2, -1)[:, :36]
        y = layer.forward(x)
        assert y.dtype == np.float32, type(layer).__name__
        assert layer.backward(np.ones_like(y)).dtype == np.float32
        x = y


def test_inplace_relu_matches_and_reuses_its_arrays():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 4, 5))
    dout = rng.standard_normal(x.shape)
    plain, inplace = ReLU(), ReLU(inplace=True)
    expected_out, expected_dx = plain.forward(x), plain.backward(dout)
    x2, dout2 = x.copy(), dout.copy()
    out = inplace.forward(x2)
    assert out is x2
    np.testing.assert_array_equal(out, expected_out)
    dx = inplace.backward(dout2)
    assert dx is dout2
    np.testing.assert_array_equal(dx, expected_dx)
