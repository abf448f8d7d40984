"""The lab's exercise 8: as written it cannot learn; with the four fixes it does."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.data import load_dataset
from cnnlab.nn import lab_exercise8 as ex
from tests.oracles import rel_error


@pytest.fixture(scope="module")
def data():
    return load_dataset(None, image_size=16)


def test_as_written_never_updates_the_fc_weights_and_does_not_learn(data):
    start = ex.init_params()
    net = ex.train_as_written(data.train.images, data.train.labels, epochs=3)
    np.testing.assert_array_equal(net.W_fc, start.W_fc)  # defect 1: `==` instead of `-=`
    assert not np.array_equal(net.W1, start.W1)  # the conv filters do move
    accuracy = np.mean(ex.predict(net, data.test.images, normalized=False) == data.test.labels)
    assert accuracy < 0.6


def test_fixed_learns(data):
    net = ex.train_fixed(data.train.images, data.train.labels, epochs=8)
    assert net.losses[-1] < net.losses[0] - 0.15
    assert np.mean(ex.predict(net, data.test.images) == data.test.labels) > 0.68  # chance is 0.5


def test_exercise8_forward_backward_is_the_frameworks_simple_model():
    """The hand-assembled network and cnnlab.nn's `simple` agree (after the flatten order is matched)."""
    from cnnlab.nn import build_model, softmax_cross_entropy

    rng = np.random.default_rng(0)
    net = ex.init_params(seed=1)
    net.b1 = rng.standard_normal(net.b1.shape)
    model = build_model("simple", dtype=np.float64)
    # the exercise flattens NHWC (h, w, c); the framework flattens (c, h, w) like PyTorch
    w_chw = net.W_fc.reshape(9, 9, 16, 2).transpose(2, 0, 1, 3).reshape(1296, 2)
    model.load_state_dict({"0.weight": net.W1, "0.bias": net.b1, "4.weight": w_chw, "4.bias": net.b_fc[0]})
    x = rng.uniform(-1, 1, (3, 16, 16, 3))
    y = np.array([1, 0, 1])
    z_ex, caches = ex.forward(net, x)
    z_nn = model.forward(x)
    assert rel_error(z_ex, z_nn) < 1e-12
    _, dz = softmax_cross_entropy(z_ex, y)
    g = ex.backward(net, dz, caches)
    model.backward(dz)
    grads = model.gradients()
    assert rel_error(g["W1"], grads["0.weight"]) < 1e-12
    assert (
        rel_error(g["W_fc"].reshape(9, 9, 16, 2).transpose(2, 0, 1, 3).reshape(1296, 2), grads["4.weight"])
        < 1e-12
    )
