"""What every backend's predictor is: the :class:`Predictor` protocol, its input check, batched probabilities.

A predictor works on decoded images (uint8, NHWC, RGB, already at the run's ``image_size``), applies the
run's normalisation itself, and returns class probabilities. Each backend's inference module implements
it; :func:`cnnlab.runs.predictor.load_predictor` picks the backend of a run directory from the registry
(:mod:`cnnlab.backends`). This module sits below the backends and imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from cnnlab.errors import DataError


class Predictor(Protocol):
    classes: list[str]
    image_size: int
    backend: str

    def predict_proba(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """``images``: (N, H, W, 3) uint8 -> probabilities (N, K) float64, rows summing to 1.

        Uses the run's test-time augmentation (flip averaging) when its recipe has ``tta_flip``.
        """
        ...

    def feature_maps(self, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """``image``: (H, W, 3) uint8 -> ``[(layer name, (h, w, c) float array)]`` after each conv+ReLU."""
        ...


def check_images(
    images: np.ndarray, ndim: int, image_size: int, channels: int, what: str, kind: str = "images"
) -> np.ndarray:
    """``images`` as an array, if it is uint8 ``(N, s, s, c)`` (``ndim=4``) or ``(s, s, c)`` (``ndim=3``).

    Raises :class:`cnnlab.errors.DataError` naming the expected and the given dtype and shape, e.g.
    ``predict_proba expects uint8 RGB images of shape ('N', 64, 64, 3), got float32 (2, 64, 64, 3)``
    (``kind`` says what the images must be). Both backends' predictors check their inputs with it.
    """
    images = np.asarray(images)
    s, c = int(image_size), int(channels)
    want = (s, s, c)
    if images.dtype != np.uint8 or images.ndim != ndim or images.shape[-3:] != want:
        shape = ("N", *want) if ndim == 4 else want
        raise DataError(f"{what} expects uint8 {kind} of shape {shape}, got {images.dtype} {images.shape}")
    return images


def batched_probabilities(
    images: np.ndarray, batch_size: int, num_classes: int, log_probs: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Class probabilities ``(N, K)`` float64 of uint8 ``images``, ``batch_size`` images at a time.

    ``log_probs(batch)`` gives the batch's log-probabilities ``(n, K)`` (a backend's forward pass, with
    its test-time augmentation); they are exponentiated in float64 and each row renormalised to sum to 1.
    """
    if images.shape[0] == 0:
        return np.zeros((0, num_classes))
    out = [
        np.exp(np.asarray(log_probs(images[i : i + batch_size]), dtype=np.float64))
        for i in range(0, images.shape[0], batch_size)
    ]
    p = np.concatenate(out)
    return p / p.sum(axis=1, keepdims=True)
