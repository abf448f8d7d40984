"""The layer table of a model of any backend, as text or as rows (what ``summary.txt`` holds).

Each backend's summary module does the work (NumPy: :mod:`cnnlab.nn.summary`; PyTorch: torchinfo
through :mod:`cnnlab.torch_backend.summary`), picked from :data:`cnnlab.backends.BACKENDS`. Both give
output shapes ``[batch, C, H, W]``, parameters and mult-adds per layer (548,258 parameters for ``cnn``
at 64x64).
"""

from __future__ import annotations

from typing import Any

from cnnlab.backends import backend_or_error


def layer_table(
    model: str,
    backend: str = "numpy",
    image_size: int | None = None,
    num_classes: int = 2,
    dropout: float = 0.0,
) -> str:
    """The printed layer table of architecture ``model`` built by ``backend`` for ``image_size`` inputs."""
    return backend_or_error(backend).layer_table(model, image_size, num_classes, dropout)


def layer_rows(
    model: str,
    backend: str = "numpy",
    image_size: int | None = None,
    num_classes: int = 2,
    dropout: float = 0.0,
) -> list[dict[str, Any]]:
    """One dict per layer: ``index``, ``layer`` (class name), ``output_shape``, ``params``, ``mult_adds``."""
    return backend_or_error(backend).layer_rows(model, image_size, num_classes, dropout)
