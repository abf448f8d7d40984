"""Array helpers shared by both backends: normalisation, layout, and the stratified split."""

from __future__ import annotations

import numpy as np

from cnnlab.errors import DataError

_255 = np.float32(255.0)
_HALF = np.float32(0.5)


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 images ``(..., C)`` -> float32 ``(x / 255 - 0.5) / 0.5``, in ``[-1, 1]``.

    The same float32 operations, in the same order, as the lab's ``ToTensor()`` followed by
    ``Normalize((0.5,) * C, (0.5,) * C)``, so the values agree with PyTorch's bit for bit. The layout is
    kept (NHWC in, NHWC out); :func:`to_nchw` gives PyTorch's layout.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise DataError(f"normalize expects uint8 images, got {images.dtype} with shape {images.shape}")
    return (images.astype(np.float32) / _255 - _HALF) / _HALF


def to_nchw(images: np.ndarray) -> np.ndarray:
    """``(N, H, W, C)`` -> contiguous ``(N, C, H, W)`` (any dtype)."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise DataError(f"to_nchw expects a 4-D (N, H, W, C) array, got shape {images.shape}")
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2))


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices ``0..N-1`` into ``(keep, held_out)`` with ``fraction`` of each class held out.

    For each class ``c`` (in increasing order) its indices are shuffled with
    ``numpy.random.default_rng(seed)`` and the first ``floor(fraction * n_c + 0.5)`` are held out.
    Both index arrays are returned sorted (int64).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise DataError(f"labels must be 1-D, got shape {labels.shape}")
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"the held-out fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_held = int(np.floor(fraction * idx.size + 0.5))
        held.append(rng.permutation(idx)[:n_held])
    held_out = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    mask = np.ones(labels.size, dtype=bool)
    mask[held_out] = False
    return np.flatnonzero(mask).astype(np.int64), held_out.astype(np.int64)


def train_val_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded ``(train_idx, val_idx)`` of ``labels`` ``(N,)``; ``val_fraction = 0`` -> empty val.

    ``val_idx`` holds ``floor(val_fraction * n_c + 0.5)`` indices of each class ``c`` (see
    :func:`stratified_split`); both arrays are sorted int64 and together are a partition of ``0..N-1``.
    """
    return stratified_split(labels, val_fraction, seed)


def kfold_split(labels: np.ndarray, folds: int, fold: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, val_idx)`` for fold ``fold`` (0-based) of a stratified ``folds``-fold partition.

    For each class ``c`` (in increasing order) its indices are shuffled with one
    ``numpy.random.default_rng(seed)`` and dealt round-robin to the folds (position ``i`` goes to fold
    ``i mod folds``), so every fold holds ``n_c // folds`` or one more of each class and the ``folds``
    validation sets partition ``0..N-1``. Both arrays are sorted int64.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise DataError(f"labels must be 1-D, got shape {labels.shape}")
    if not (isinstance(folds, int | np.integer) and folds >= 2):
        raise DataError(f"cross-validation needs at least 2 folds, got {folds!r}")
    if not (isinstance(fold, int | np.integer) and 0 <= fold < folds):
        raise DataError(f"fold must be in 0..{folds - 1} for {folds} folds, got {fold!r}")
    if labels.size < folds:
        raise DataError(f"cannot split {labels.size} images into {folds} folds")
    rng = np.random.default_rng(seed)
    assigned = np.empty(labels.size, dtype=np.int64)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        assigned[idx] = np.arange(idx.size) % folds
    train_idx, val_idx = np.flatnonzero(assigned != fold), np.flatnonzero(assigned == fold)
    return train_idx.astype(np.int64), val_idx.astype(np.int64)
