"""``train(settings, callbacks) -> RunDir`` with the torch backend: :func:`cnnlab.training.fit` itself.

Kept for notebooks and scripts written before the fit loop (:mod:`cnnlab.training.loop`) owned the
policy for every backend; the torch backend's engine is :mod:`cnnlab.torch_backend.engine`, DDP is
``torchrun ... -m cnnlab train --backend torch`` (:mod:`cnnlab.torch_backend.distributed`).
"""

from __future__ import annotations

from dataclasses import replace

from cnnlab.engine.settings import TrainSettings
from cnnlab.rundir import RunDir
from cnnlab.training.callbacks import Callbacks
from cnnlab.training.loop import fit


def train(settings: TrainSettings, callbacks: Callbacks | None = None) -> RunDir:
    """:func:`cnnlab.training.loop.fit` with ``backend="torch"``."""
    return fit(replace(settings, backend="torch"), callbacks)
