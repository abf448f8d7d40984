"""Training with any backend: settings, progress callbacks, the fit loop, cross-validation.

- :mod:`cnnlab.training.settings`  :class:`TrainSettings`, their validation, the one resume rule
- :mod:`cnnlab.training.callbacks` :class:`Callbacks` (progress hooks) and the skipped-files note
- :mod:`cnnlab.training.engine`    what a backend supplies: the engine and runtime protocols
- :mod:`cnnlab.training.loop`      :func:`fit`: the one loop that owns the policy
- :mod:`cnnlab.training.crossval`  k-fold cross-validation with :func:`fit`

>>> from cnnlab.training import TrainSettings, fit
>>> run = fit(TrainSettings(backend="torch", model="simple", out="runs/quick"))
"""

from cnnlab.training.callbacks import Callbacks, skipped_files_note
from cnnlab.training.loop import fit
from cnnlab.training.settings import TrainSettings

__all__ = ["Callbacks", "TrainSettings", "fit", "skipped_files_note"]
