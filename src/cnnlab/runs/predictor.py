"""Load a trained model from a run directory, whatever backend trained it (see :mod:`cnnlab.predict`).

The CLI's ``evaluate`` and ``predict``, the report and the explorer all go through :func:`load_predictor`.
"""

from __future__ import annotations

from cnnlab.backends import get_backend
from cnnlab.errors import RunDirError
from cnnlab.predict import Predictor, batched_probabilities, check_images
from cnnlab.rundir import RunDir

__all__ = ["Predictor", "batched_probabilities", "check_images", "load_predictor"]


def load_predictor(run: RunDir | str, checkpoint: str = "best") -> Predictor:
    """The predictor of run directory ``run`` from its ``checkpoint`` (``"best"`` or ``"last"``).

    The backend that trained the run (``config.json``) loads it; its checkpoint's checksum is verified.
    """
    run = run if isinstance(run, RunDir) else RunDir.open(run)
    name = run.config.get("backend")
    try:
        backend = get_backend(name)
    except ValueError:
        raise RunDirError(f"{run.path}: unknown backend {name!r} in config.json") from None
    return backend.load_predictor(run, checkpoint)
