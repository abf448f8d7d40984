"""Mixup draws and the blend, shared by both trainers (NumPy arrays and torch tensors alike)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.data.mixup import MixParams, MixUp, mix
from cnnlab.errors import DataError


def test_blend_is_lam_x_plus_one_minus_lam_partner():
    x = np.arange(24, dtype=np.float32).reshape(4, 2, 3, 1)
    p = MixParams(0.25, np.array([2, 0, 3, 1]))
    out = mix(x, p)
    for i, j in enumerate(p.perm):
        np.testing.assert_allclose(out[i], 0.25 * x[i] + 0.75 * x[j], rtol=1e-6)
    assert out.dtype == np.float32 and not p.dominant and MixParams(0.5, p.perm).dominant


def test_torch_tensors_blend_as_arrays_do():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((5, 3, 4, 4)).astype(np.float32)
    p = MixUp(0.4, seed=1).sample(5)
    np.testing.assert_allclose(mix(torch.from_numpy(x), p).numpy(), mix(x, p), rtol=1e-6, atol=1e-7)


def test_draws_are_seeded_permutations_from_beta():
    a, b = MixUp(0.2, seed=5), MixUp(0.2, seed=5)
    for n in (1, 7, 32):
        pa, pb = a.sample(n), b.sample(n)
        assert pa.lam == pb.lam and np.array_equal(pa.perm, pb.perm)
        assert sorted(pa.perm.tolist()) == list(range(n))
    lams = np.array([MixUp(0.2, seed=s).sample(2).lam for s in range(2000)])
    assert ((lams >= 0) & (lams <= 1)).all()
    assert abs(lams.mean() - 0.5) < 0.04  # Beta(a, a) is symmetric about 1/2
    # Beta(0.2, 0.2) is U-shaped: P(lam < 0.1 or lam > 0.9) = 0.673 (integrating its density)
    assert 0.63 < np.mean((lams < 0.1) | (lams > 0.9)) < 0.72


def test_bad_alpha_and_mismatched_batch_are_named():
    with pytest.raises(DataError, match="alpha must be a positive number, got 0"):
        MixUp(0)
    with pytest.raises(DataError, match="a draw for 3 images, but the batch has 4"):
        mix(np.zeros((4, 2)), MixUp(1.0, seed=0).sample(3))
