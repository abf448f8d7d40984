"""Oracle 3b: centred-difference numerical gradients under a random upstream gradient (rel error < 1e-7)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.oracles import gradcheck

TOL = 1e-7


@pytest.mark.parametrize(
    ("shape", "f", "n_C", "stride", "pad"),
    [((2, 5, 4, 3), 3, 2, 1, 1), ((1, 6, 7, 2), 2, 3, 3, 0), ((2, 4, 5, 1), 3, 1, 2, 2)],
)
def test_conv_gradients(impl, shape, f, n_C, stride, pad):
    rng = np.random.default_rng(sum(shape) + f)
    inputs = {
        "A_prev": rng.standard_normal(shape),
        "W": rng.standard_normal((f, f, shape[3], n_C)),
        "b": rng.standard_normal((1, 1, 1, n_C)),
    }
    hp = {"stride": stride, "pad": pad}

    def forward(A_prev, W, b):
        return impl.conv_forward(A_prev, W, b, hp)[0]

    def backward(dZ):
        _, cache = impl.conv_forward(inputs["A_prev"], inputs["W"], inputs["b"], hp)
        dA_prev, dW, db = impl.conv_backward(dZ, cache)
        return {"A_prev": dA_prev, "W": dW, "b": db}

    errors = gradcheck(forward, backward, inputs, seed=1)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize(
    ("shape", "f", "stride"), [((2, 4, 4, 2), 2, 2), ((1, 5, 6, 2), 3, 1), ((2, 7, 5, 1), 2, 3)]
)
def test_pool_gradients(impl, shape, f, stride, mode):
    rng = np.random.default_rng(sum(shape) + f)
    inputs = {"A_prev": rng.standard_normal(shape)}  # continuous values: no ties within h of each other
    hp = {"f": f, "stride": stride}

    def forward(A_prev):
        return impl.pool_forward(A_prev, hp, mode)[0]

    def backward(dA):
        _, cache = impl.pool_forward(inputs["A_prev"], hp, mode)
        return {"A_prev": impl.pool_backward(dA, cache, mode)}

    errors = gradcheck(forward, backward, inputs, seed=2)
    assert errors["A_prev"] < TOL, errors
