"""``load_dataset``: an image folder (or the built-in dataset) as decoded uint8 arrays, cached."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab.data import cache as _cache
from cnnlab.data.arrays import stratified_split
from cnnlab.data.folder import FileEntry, Listing, decode_many, fingerprint, scan
from cnnlab.errors import DataError


@dataclass
class Split:
    """One split of a dataset: ``images (N, H, W, C)`` uint8, ``labels (N,)`` int64, ``paths`` (N strings)."""

    images: np.ndarray
    labels: np.ndarray
    paths: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def counts(self, num_classes: int) -> np.ndarray:
        """Images per class, ``(num_classes,)`` int64."""
        return np.bincount(self.labels, minlength=num_classes).astype(np.int64)


@dataclass
class Dataset:
    """A loaded image-folder dataset.

    ``classes[k]`` is the folder name of label ``k`` (sorted names, so the Kaggle set gives cats = 0,
    dogs = 1); ``skipped`` lists ``(path, reason)`` for files that could not be decoded.
    """

    root: Path
    classes: list[str]
    train: Split
    test: Split
    skipped: list[tuple[str, str]]
    image_size: int
    fingerprint: dict = field(default_factory=dict)  # cnnlab.data.folder.fingerprint of the files

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return int(self.train.images.shape[-1])


def _decode(listing: Listing, image_size: int, grayscale: bool, use_cache: bool) -> _cache.Decoded:
    paths = [f.path for f in listing.files]
    if use_cache:
        key = _cache.cache_key(listing, image_size, grayscale)
        where = _cache.cache_path(listing, image_size, grayscale)
        hit = _cache.read(where, key, len(paths), image_size, 1 if grayscale else 3)
        if hit is not None:
            return hit
    images, skipped, ok = decode_many(paths, image_size, grayscale)
    decoded = _cache.Decoded(images, ok, skipped)
    if use_cache:
        _cache.write(where, key, decoded)
    return decoded


def _split(files: list[FileEntry], images: np.ndarray, index: np.ndarray) -> Split:
    return Split(
        images=images[index],
        labels=np.array([files[i].label for i in index], dtype=np.int64),
        paths=[files[i].path for i in index],
    )


def load_dataset(
    root: str | os.PathLike | None = None,
    image_size: int = 64,
    grayscale: bool = False,
    test_fraction: float = 0.2,
    seed: int = 2023,
    cache: bool = True,
) -> Dataset:
    """Load an image folder as a :class:`Dataset` of uint8 ``(N, image_size, image_size, C)`` arrays.

    Parameters
    ----------
    root:
        ``DIR/train/<class>/*`` + ``DIR/test/<class>/*``, or a flat ``DIR/<class>/*``; ``None`` loads the
        built-in cats-vs-dogs dataset (:mod:`cnnlab.data.synth`), generated once into the cache directory.
    image_size:
        Side of the square images (bilinear with antialiasing, see :mod:`cnnlab.data.folder`).
    grayscale:
        ``C = 1`` (Pillow's ``L``) instead of ``C = 3`` (RGB).
    test_fraction, seed:
        Flat layout only: the fraction of each class held out as the test split, chosen with ``seed``
        (:func:`cnnlab.data.arrays.stratified_split`). Ignored when ``train/`` and ``test/`` exist.
    cache:
        Read and write the decoded images in the cache (:mod:`cnnlab.data.cache`).

    Unreadable files are skipped and listed in ``Dataset.skipped``; a missing directory, no class
    folders, an empty class or train/test class names that differ raise :class:`DataError`.
    """
    if not isinstance(image_size, int | np.integer) or isinstance(image_size, bool) or image_size < 1:
        raise DataError(f"image_size must be a positive integer, got {image_size!r}")
    if root is None:
        from cnnlab.data.synth import builtin_root

        root = builtin_root()
    listing = scan(root)
    decoded = _decode(listing, int(image_size), grayscale, cache)
    files = [f for f, ok in zip(listing.files, decoded.ok, strict=True) if ok]
    labels = np.array([f.label for f in files], dtype=np.int64)
    for label, name in enumerate(listing.classes):
        for split in ("train", "test") if listing.split_layout else ("",):
            if not any(f.label == label and f.split == split for f in files):
                where = listing.root / split / name if split else listing.root / name
                raise DataError(f"class folder {where} has no readable images; expected at least one")
    if listing.split_layout:
        is_train = np.array([f.split == "train" for f in files], dtype=bool)
        train_idx, test_idx = np.flatnonzero(is_train), np.flatnonzero(~is_train)
    else:
        train_idx, test_idx = stratified_split(labels, test_fraction, seed)
    return Dataset(
        root=listing.root,
        classes=list(listing.classes),
        train=_split(files, decoded.images, train_idx),
        test=_split(files, decoded.images, test_idx),
        skipped=[*listing.skipped, *decoded.skipped],
        image_size=int(image_size),
        fingerprint=fingerprint(listing),
    )
