"""The weight average (recipe ``ema``): its recurrence, against a closed form and PyTorch's ``lerp_``."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.nn.ema import WeightAverage


def test_constant_weights_are_approached_geometrically():
    # w fixed after the start: w_ema_k = w + d^k (w_ema_0 - w)
    start = {"a": np.full((2, 3), 4.0), "b": np.array([-1.0])}
    avg = WeightAverage(start, decay=0.9)
    w = {"a": np.full((2, 3), 1.0), "b": np.array([3.0])}
    for _ in range(5):
        avg.update(w)
    np.testing.assert_allclose(avg.shadow["a"], 1.0 + 0.9**5 * 3.0, rtol=1e-14)
    np.testing.assert_allclose(avg.shadow["b"], 3.0 + 0.9**5 * -4.0, rtol=1e-14)
    assert start["a"][0, 0] == 4.0  # the average owns copies


def test_matches_torch_lerp_on_a_random_walk():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w = rng.standard_normal(10)
    avg = WeightAverage({"w": w}, decay=0.97)
    ref = torch.tensor(w)
    for _ in range(50):
        w = w + rng.standard_normal(10) * 0.1
        avg.update({"w": w})
        ref.lerp_(torch.tensor(w), 1 - 0.97)
    np.testing.assert_allclose(avg.shadow["w"], ref.numpy(), rtol=1e-13, atol=1e-15)


def test_state_round_trip_and_errors():
    avg = WeightAverage({"w": np.arange(3.0)}, decay=0.5)
    avg.update({"w": np.full(3, 10.0)})
    other = WeightAverage({"w": np.zeros(3)}, decay=0.5)
    other.load_state_dict(avg.state_dict())
    np.testing.assert_array_equal(other.shadow["w"], [5.0, 5.5, 6.0])
    with pytest.raises(ValueError, match=r"w has shape \(2,\), expected \(3,\)"):
        other.load_state_dict({"w": np.zeros(2)})
    with pytest.raises(ValueError, match="expected \\['w'\\], got \\['v'\\]"):
        other.load_state_dict({"v": np.zeros(3)})
    with pytest.raises(ValueError, match=r"decay must be in \(0, 1\)"):
        WeightAverage({"w": np.zeros(1)}, decay=1.0)
