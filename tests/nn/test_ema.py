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


def test_one_rule_for_both_backends_arrays():
    # the shared average with each backend's arithmetic: the same numbers, the same refusals
    torch = pytest.importorskip("torch")
    from cnnlab.engine.average import WeightAverage as Shared
    from cnnlab.engine.average import averaged_or_raw
    from cnnlab.torch_backend.engine import _lerp as torch_lerp

    rng = np.random.default_rng(1)
    w = rng.standard_normal(6)
    ours = WeightAverage({"w": w}, decay=0.9)
    theirs = Shared({"w": torch.tensor(w)}, 0.9, torch_lerp)
    for _ in range(20):
        w = w + rng.standard_normal(6)
        ours.update({"w": w})
        theirs.update({"w": torch.tensor(w)})
    np.testing.assert_allclose(ours.shadow["w"], theirs.shadow["w"].numpy(), rtol=1e-13, atol=1e-15)
    with pytest.raises(ValueError, match=r"expected the parameters \['w'\], got \['v'\]"):
        theirs.update({"v": torch.zeros(6)})
    with pytest.raises(ValueError, match=r"decay must be in \(0, 1\)"):
        Shared({}, 0.0, torch_lerp)
    assert averaged_or_raw({"model": 1, "ema": 2}, "model") == 2
    assert averaged_or_raw({"model": 1, "ema": None}, "model") == 1
    assert averaged_or_raw({"model": 1}, "model") == 1
