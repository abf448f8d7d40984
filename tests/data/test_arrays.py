"""normalize, to_nchw and the stratified splits, against independent computations."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.data import normalize, stratified_split, to_nchw, train_val_split
from cnnlab.errors import DataError


def test_normalize_matches_torch_totensor_normalize_bit_for_bit():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).integers(0, 256, size=(3, 5, 7, 3), dtype=np.uint8)
    x[0, 0, 0] = [0, 128, 255]
    # The lab: ToTensor() (float / 255) then Normalize(0.5, 0.5) ((t - mean) / std), in float32.
    t = torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255)
    t = (t - 0.5) / 0.5
    got = normalize(x)
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_array_equal(got, t.permute(0, 2, 3, 1).numpy())


def test_normalize_values_and_range():
    x = np.array([0, 51, 255], dtype=np.uint8).reshape(1, 1, 3, 1)
    expected = np.array([-1.0, 51 / 255 * 2 - 1, 1.0])
    np.testing.assert_allclose(normalize(x).ravel(), expected, rtol=0, atol=1e-7)


def test_normalize_rejects_float_input():
    with pytest.raises(DataError, match="uint8"):
        normalize(np.zeros((1, 2, 2, 3), np.float32))


def test_to_nchw():
    x = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    y = to_nchw(x)
    assert y.shape == (2, 5, 3, 4) and y.flags.c_contiguous
    assert y[1, 4, 2, 3] == x[1, 2, 3, 4]
    with pytest.raises(DataError, match="shape"):
        to_nchw(np.zeros((3, 4, 5)))


@pytest.mark.parametrize("fraction", [0.0, 0.15, 0.2, 0.5])
def test_train_val_split_is_a_stratified_partition(fraction):
    labels = np.array([0] * 37 + [1] * 12 + [2] * 1 + [1] * 9)
    rng = np.random.default_rng(1)
    labels = labels[rng.permutation(labels.size)]
    train, val = train_val_split(labels, fraction, seed=7)
    assert train.dtype == np.int64 and val.dtype == np.int64
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(labels.size))
    for c, n_c in zip(*np.unique(labels, return_counts=True), strict=True):
        expected = int(np.floor(fraction * n_c + 0.5))  # round half up, per class
        assert int(np.sum(labels[val] == c)) == expected
    if fraction == 0.0:
        assert val.size == 0


def test_train_val_split_is_seeded():
    labels = np.repeat([0, 1], 50)
    a = train_val_split(labels, 0.2, seed=3)
    b = train_val_split(labels, 0.2, seed=3)
    c = train_val_split(labels, 0.2, seed=4)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_split_rejects_bad_fraction(bad):
    with pytest.raises(DataError, match="fraction"):
        stratified_split(np.zeros(10, np.int64), bad, 0)


def test_split_rejects_2d_labels():
    with pytest.raises(DataError, match="1-D"):
        train_val_split(np.zeros((2, 5), np.int64), 0.2, 0)


@pytest.mark.parametrize("folds", [2, 3, 5])
def test_kfold_validation_sets_partition_the_images_stratified(folds):
    from cnnlab.data import kfold_split

    labels = np.repeat([0, 1, 2], [17, 10, 4])
    seen = []
    for k in range(folds):
        train, val = kfold_split(labels, folds, k, seed=11)
        assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(labels.size))
        assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0) and val.dtype == np.int64
        for c, n_c in enumerate((17, 10, 4)):
            assert np.sum(labels[val] == c) in (n_c // folds, n_c // folds + 1)
        seen.append(val)
    assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(labels.size))
    a, b = kfold_split(labels, folds, 0, seed=11), kfold_split(labels, folds, 0, seed=12)
    assert np.array_equal(a[1], kfold_split(labels, folds, 0, seed=11)[1])
    assert not np.array_equal(a[1], b[1])


def test_kfold_errors_are_named():
    from cnnlab.data import kfold_split

    labels = np.zeros(6, dtype=int)
    with pytest.raises(DataError, match="at least 2 folds, got 1"):
        kfold_split(labels, 1, 0, 0)
    with pytest.raises(DataError, match=r"fold must be in 0..2 for 3 folds, got 3"):
        kfold_split(labels, 3, 3, 0)
    with pytest.raises(DataError, match="cannot split 6 images into 7 folds"):
        kfold_split(labels, 7, 0, 0)
