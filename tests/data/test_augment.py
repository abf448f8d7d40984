"""Augmentation: the vectorized batch against a per-image float64 oracle, and the seeded sampling."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.data import Augmenter
from cnnlab.data.augment import AugmentParams, augment
from cnnlab.errors import DataError


def _oracle(images: np.ndarray, p: AugmentParams) -> np.ndarray:
    """One image at a time: np.pad(reflect), slice, flip, then the jitter formula in float64."""
    n, h, w, c = images.shape
    out = np.zeros_like(images)
    pad = int(max(np.abs(p.shift_y).max(), np.abs(p.shift_x).max()))
    for i in range(n):
        x = images[i][:, ::-1] if p.flip[i] else images[i]
        padded = np.pad(x, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
        # A flipped image is cropped at the mirrored column offset (flip after crop).
        sx = -p.shift_x[i] if p.flip[i] else p.shift_x[i]
        crop = padded[pad + p.shift_y[i] : pad + p.shift_y[i] + h, pad + sx : pad + sx + w].astype(np.float64)
        b, con, s = (float(v) for v in (p.brightness[i], p.contrast[i], p.saturation[i]))
        gray = crop @ np.array([0.299, 0.587, 0.114]) if c == 3 else crop[:, :, 0]
        y = crop * b  # brightness
        y = y * con + (1 - con) * b * gray.mean()  # contrast around the mean grey level
        if c == 3:
            y = y * s + (1 - s) * (b * con * gray + (1 - con) * b * gray.mean())[:, :, None]  # saturation
        out[i] = np.clip(np.floor(y + 0.5), 0, 255).astype(np.uint8)
    return out


def _params(rng, n, pad, jitter, flip_p=0.5):
    return AugmentParams(
        flip=rng.random(n) < flip_p,
        shift_y=rng.integers(-pad, pad + 1, n),
        shift_x=rng.integers(-pad, pad + 1, n),
        brightness=rng.uniform(1 - jitter, 1 + jitter, n).astype(np.float32),
        contrast=rng.uniform(1 - jitter, 1 + jitter, n).astype(np.float32),
        saturation=rng.uniform(1 - jitter, 1 + jitter, n).astype(np.float32),
    )


@pytest.mark.parametrize("shape", [(6, 9, 7, 3), (5, 8, 8, 1), (1, 5, 6, 3)])
@pytest.mark.parametrize("jitter", [0.0, 0.3])
def test_augment_matches_per_image_oracle(shape, jitter):
    rng = np.random.default_rng(sum(shape))
    images = rng.integers(0, 256, size=shape, dtype=np.uint8)
    pad = min(shape[1], shape[2]) - 1  # the widest reflection there is
    params = _params(rng, shape[0], pad, jitter)
    got = augment(images, params)
    expected = _oracle(images, params)
    assert got.dtype == np.uint8 and got.shape == shape
    # float32 against float64: a value within 1e-4 of a rounding boundary may round the other way.
    diff = np.abs(got.astype(int) - expected.astype(int))
    assert diff.max() <= (1 if jitter else 0)
    assert np.mean(diff) < 0.01


def test_identity_parameters_return_an_equal_copy():
    images = np.random.default_rng(0).integers(0, 256, size=(4, 6, 6, 3), dtype=np.uint8)
    n = images.shape[0]
    p = AugmentParams(np.zeros(n, bool), np.zeros(n, int), np.zeros(n, int), *np.ones((3, n), np.float32))
    out = augment(images, p)
    np.testing.assert_array_equal(out, images)
    assert not np.shares_memory(out, images)


def test_augmenter_is_seeded_and_does_not_modify_its_input():
    images = np.random.default_rng(0).integers(0, 256, size=(8, 16, 16, 3), dtype=np.uint8)
    before = images.copy()
    a1, a2, a3 = Augmenter(5), Augmenter(5), Augmenter(6)
    first = a1(images)
    np.testing.assert_array_equal(first, a2(images))
    assert not np.array_equal(first, a3(images))
    assert not np.array_equal(first, a1(images))  # the next call draws new parameters
    np.testing.assert_array_equal(images, before)


def test_augmenter_sampling_ranges():
    aug = Augmenter(0, flip_p=0.5, pad=3, jitter=0.2)
    p = aug.sample(4000)
    assert 0.45 < p.flip.mean() < 0.55
    assert p.shift_y.min() == -3 and p.shift_y.max() == 3 and p.shift_x.min() == -3 and p.shift_x.max() == 3
    for f in (p.brightness, p.contrast, p.saturation):
        assert f.dtype == np.float32 and f.min() >= 0.8 and f.max() <= 1.2


def test_augmenter_flip_only_is_an_exact_mirror():
    images = np.random.default_rng(1).integers(0, 256, size=(3, 5, 7, 1), dtype=np.uint8)
    out = Augmenter(0, flip_p=1.0, pad=0, jitter=0.0)(images)
    np.testing.assert_array_equal(out, images[:, :, ::-1])


def test_augmenter_call_uses_sample_then_augment():
    images = np.random.default_rng(2).integers(0, 256, size=(5, 12, 10, 3), dtype=np.uint8)
    got = Augmenter(9)(images)
    np.testing.assert_array_equal(got, augment(images, Augmenter(9).sample(5)))


def test_jitter_of_a_grey_image_only_scales_brightness():
    # For a uniform grey image, contrast (around its own mean) and saturation change nothing.
    images = np.full((50, 4, 4, 3), 100, dtype=np.uint8)
    aug = Augmenter(3, flip_p=0.0, pad=0, jitter=0.2)
    p = aug.sample(50)
    out = augment(images, p)
    np.testing.assert_array_equal(out[:, 0, 0, 0], np.floor(100 * p.brightness.astype(np.float64) + 0.5))


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"flip_p": 1.5}, "flip_p"), ({"pad": -1}, "pad"), ({"jitter": 1.0}, "jitter")]
)
def test_augmenter_rejects_bad_settings(kwargs, match):
    with pytest.raises(DataError, match=match):
        Augmenter(0, **kwargs)


def test_augmenter_rejects_bad_batches():
    with pytest.raises(DataError, match="uint8"):
        Augmenter(0)(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(DataError, match=r"\(N, H, W, C\)"):
        Augmenter(0)(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="pad=4"):
        Augmenter(0, pad=4)(np.zeros((2, 4, 4, 3), np.uint8))


def test_resized_crop_is_pytorch_grid_sample_bilinear():
    """The random resized crop against ``affine_grid`` + ``grid_sample`` (bilinear, border) in float64."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from cnnlab.data.augment import _resized_crop

    rng = np.random.default_rng(4)
    x = rng.uniform(0, 255, (6, 9, 12, 3))
    aug = Augmenter(1, scale=(0.3, 1.0), ratio=(0.5, 2.0))
    fy, fx, cy, cx = aug.sample(6).box
    assert ((fy > 0) & (fy <= 1) & (fx > 0) & (fx <= 1)).all()
    assert (np.abs(cy) <= 1 - fy + 1e-12).all() and (np.abs(cx) <= 1 - fx + 1e-12).all()
    theta = torch.zeros(6, 2, 3, dtype=torch.float64)
    theta[:, 0, 0], theta[:, 1, 1] = torch.from_numpy(fx), torch.from_numpy(fy)
    theta[:, 0, 2], theta[:, 1, 2] = torch.from_numpy(cx), torch.from_numpy(cy)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    grid = F.affine_grid(theta, list(xt.shape), align_corners=False)
    ref = F.grid_sample(xt, grid, mode="bilinear", padding_mode="border", align_corners=False)
    got = _resized_crop(x.astype(np.float32), fy, fx, cy, cx)
    np.testing.assert_allclose(got, ref.permute(0, 2, 3, 1).numpy(), rtol=0, atol=2e-3)


def test_resized_crop_of_the_whole_image_is_the_image_and_off_by_default():
    images = np.random.default_rng(0).integers(0, 256, (3, 8, 10, 3), dtype=np.uint8)
    params = AugmentParams(
        np.zeros(3, bool),
        np.zeros(3, int),
        np.zeros(3, int),
        *np.ones((3, 3), np.float32),
        box=(np.ones(3), np.ones(3), np.zeros(3), np.zeros(3)),
    )
    np.testing.assert_array_equal(augment(images, params), images)
    assert Augmenter(0).sample(4).box is None
    # turning it on draws after the other parameters: flips, shifts and jitter stay the same
    a, b = Augmenter(3).sample(5), Augmenter(3, scale=(0.5, 1.0)).sample(5)
    assert np.array_equal(a.flip, b.flip) and np.array_equal(a.shift_x, b.shift_x)
    assert np.array_equal(a.saturation, b.saturation) and b.box is not None
    out = Augmenter(3, scale=(0.5, 1.0))(images)
    assert out.dtype == np.uint8 and out.shape == images.shape


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": (0.0, 1.0)}, "0 < low <= high <= 1"),
        ({"scale": (0.8, 0.5)}, "0 < low <= high <= 1"),
        ({"ratio": (2.0, 1.0)}, "ratio must satisfy"),
    ],
)
def test_resized_crop_rejects_bad_ranges(kwargs, message):
    with pytest.raises(DataError, match=message):
        Augmenter(0, **kwargs)
