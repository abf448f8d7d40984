"""The data pipeline both backends use: image folders -> decoded uint8 NHWC arrays (cached) -> float32.

- :func:`load_dataset` reads ``DIR/train/<class>/*`` + ``DIR/test/<class>/*`` or a flat ``DIR/<class>/*``
  (split with a seed), or the built-in cats-vs-dogs set (``root=None``, :mod:`cnnlab.data.synth`);
  decoded images are cached (:mod:`cnnlab.data.cache`) in ``$CNNLAB_CACHE`` or ``~/.cache/cnnlab``.
- :func:`load_image` decodes one file (:mod:`cnnlab.data.folder`).
- :func:`normalize` gives the lab's ``(x / 255 - 0.5) / 0.5`` in float32; :func:`to_nchw` PyTorch's layout.
- :func:`train_val_split` carves a stratified, seeded validation split from train; :func:`kfold_split`
  one fold of a stratified k-fold partition (cross-validation).
- :class:`Augmenter` flips, crops with padding and jitters colours, seeded (:mod:`cnnlab.data.augment`).
"""

from __future__ import annotations

from cnnlab.data.arrays import kfold_split, normalize, stratified_split, to_nchw, train_val_split
from cnnlab.data.augment import Augmenter
from cnnlab.data.cache import cache_dir
from cnnlab.data.dataset import Dataset, Split, load_dataset
from cnnlab.data.folder import load_image

__all__ = [
    "Augmenter",
    "Dataset",
    "Split",
    "cache_dir",
    "kfold_split",
    "load_dataset",
    "load_image",
    "normalize",
    "stratified_split",
    "to_nchw",
    "train_val_split",
]
