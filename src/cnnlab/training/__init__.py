"""Training with any backend: progress callbacks, the fit loop, cross-validation.

- :mod:`cnnlab.training.callbacks` :class:`Callbacks` (progress hooks) and the skipped-files note
- :mod:`cnnlab.training.loop`      :func:`fit`: the one loop that owns the policy
- :mod:`cnnlab.training.crossval`  k-fold cross-validation with :func:`fit`, and the rule to choose

:class:`TrainSettings` (re-exported here) and what a backend supplies live below, in :mod:`cnnlab.engine`,
which the backends import without loading the loop.

>>> from cnnlab.training import TrainSettings, fit
>>> run = fit(TrainSettings(backend="torch", model="simple", out="runs/quick"))
"""

from cnnlab.engine.settings import TrainSettings
from cnnlab.training.callbacks import Callbacks, skipped_files_note
from cnnlab.training.loop import fit

__all__ = ["Callbacks", "TrainSettings", "fit", "skipped_files_note"]
