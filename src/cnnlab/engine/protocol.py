"""What a backend supplies to the fit loop: an :class:`Engine` (one epoch, evaluate, state) in a
:class:`Runtime` (threads, devices, processes), and the :class:`TrainData` it trains on.

The loop (:mod:`cnnlab.training.loop`) owns every policy (split, resume, epochs, schedule position, the
best rule, the metrics row, ``config.json``, checkpoint cadence, stops); an engine only does what
differs between NumPy and PyTorch. Adding a backend is one module implementing these protocols and one
entry in :data:`cnnlab.backends.BACKENDS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from cnnlab.engine.settings import TrainSettings

#: ``on_step(step, loss, acc, images)``: ``step`` is 1..steps within the epoch.
StepHook = Callable[[int, float, float, int], None]


class NonFiniteLoss(Exception):
    """Raised by :meth:`Engine.train_epoch` before a step with a non-finite loss touches the weights."""

    def __init__(self, loss: float, step: int):
        super().__init__(f"loss {loss} at step {step}")
        self.loss, self.step = loss, step


@dataclass
class TrainData:
    """The images an engine trains and validates on (decoded once, uint8 NHWC).

    ``train_images (N, H, W, C)``, ``train_labels (N,)`` int64, ``val_images (M, H, W, C)``,
    ``val_labels (M,)`` (``M = 0``: no validation split); ``classes[k]`` names label ``k``.
    """

    classes: list[str]
    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    image_size: int

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return int(self.train_images.shape[-1])


@dataclass
class EpochStats:
    """One epoch's training numbers: sample-weighted means over its mini-batches (training mode)."""

    train_loss: float
    train_acc: float
    lr: float  # of the epoch's last step
    images: int  # images seen, all processes together
    seconds: float  # the training steps only


class Engine(Protocol):
    """A model, its optimizer and its random streams, driven one epoch at a time by the loop."""

    steps_per_epoch: int

    def summary(self) -> str:
        """The layer table written to ``summary.txt``."""
        ...

    def train_epoch(self, epoch: int, first_step: int, total_steps: int, on_step: StepHook) -> EpochStats:
        """Epoch ``epoch`` (1-based); the schedule's step of its first batch is ``first_step`` of
        ``total_steps``. Raises :class:`NonFiniteLoss`."""
        ...

    def evaluate(self) -> tuple[float | None, float | None]:
        """(mean negative log-likelihood, accuracy) on the validation images; ``(None, None)`` for none."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """A copy of everything an exact resume needs: weights, optimizer, weight average, RNG states."""
        ...

    def best_weights(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        """The weights of ``snapshot`` the model is (the weight average when the recipe has one)."""
        ...

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Put a :meth:`snapshot` (read back from ``last``) into the model, optimizer and RNGs."""
        ...

    def save(self, path: os.PathLike, state: dict[str, Any], meta: dict[str, Any]) -> None:
        """Write ``state`` and the JSON-able ``meta`` to ``path`` atomically, with ``meta["checksum"]``."""
        ...

    def load(self, path: os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(state, meta)`` from :meth:`save`'s file; a one-line ``RunDirError`` if it is missing,
        unreadable or its checksum does not match."""
        ...


class Runtime(Protocol):
    """Where a backend runs: threads, device, processes. ``main`` writes files and reports progress."""

    main: bool

    def facts(self) -> dict[str, Any]:
        """Backend-specific facts for ``config.json["backend_info"]`` (device, processes, versions...)."""
        ...

    def agree(self, error: BaseException | None) -> BaseException | None:
        """The main process's error, seen by every process (so that all fail together, or none)."""
        ...

    def build(self, settings: TrainSettings, data: TrainData) -> Engine: ...

    def close(self) -> None: ...
