"""Load a trained model from a run directory, whatever backend trained it.

A predictor works on decoded images (uint8, NHWC, RGB, already at the run's ``image_size``), applies the
run's normalisation itself, and returns class probabilities. The CLI's ``evaluate`` and ``predict``, the
report and the explorer all go through it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from cnnlab.runs.rundir import RunDir


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


def load_predictor(run: RunDir | str, checkpoint: str = "best") -> Predictor:
    """The predictor of run directory ``run`` from its ``checkpoint`` (``"best"`` or ``"last"``)."""
    run = run if isinstance(run, RunDir) else RunDir.open(run)
    backend = run.config.get("backend")
    if backend == "numpy":
        from cnnlab.nn.predictor import load as load_numpy

        return load_numpy(run, checkpoint)
    if backend == "torch":
        from cnnlab.errors import require

        require("torch", "torch")
        from cnnlab.torch_backend.predictor import load as load_torch

        return load_torch(run, checkpoint)
    raise ValueError(f"{run.path}: unknown backend {backend!r} in config.json")
