"""The layer table of a model of either backend, as text or as rows (what ``summary.txt`` holds).

NumPy: :func:`cnnlab.nn.summary.summarize`; PyTorch: torchinfo through
:mod:`cnnlab.torch_backend.summary`. Both give output shapes ``[batch, C, H, W]``, parameters and
mult-adds per layer (548,258 parameters for ``cnn`` at 64x64).
"""

from __future__ import annotations

from typing import Any

from cnnlab.errors import CnnlabError


def _check(backend: str) -> None:
    if backend not in ("numpy", "torch"):
        raise CnnlabError(f"unknown backend {backend!r}; choose numpy or torch")


def _numpy_summary(model: str, image_size: int | None, num_classes: int, dropout: float) -> Any:
    from cnnlab.nn import build_model
    from cnnlab.nn.summary import summarize

    return summarize(build_model(model, image_size, num_classes, dropout, seed=0), image_size)


def layer_table(
    model: str,
    backend: str = "numpy",
    image_size: int | None = None,
    num_classes: int = 2,
    dropout: float = 0.0,
) -> str:
    """The printed layer table of architecture ``model`` built by ``backend`` for ``image_size`` inputs."""
    _check(backend)
    if backend == "torch":
        from cnnlab.errors import require

        require("torch", "torch")
        from cnnlab.torch_backend.summary import summary_text

        return summary_text(model, image_size, num_classes, dropout)
    return str(_numpy_summary(model, image_size, num_classes, dropout)) + "\n"


def layer_rows(
    model: str,
    backend: str = "numpy",
    image_size: int | None = None,
    num_classes: int = 2,
    dropout: float = 0.0,
) -> list[dict[str, Any]]:
    """One dict per layer: ``index``, ``layer`` (class name), ``output_shape``, ``params``, ``mult_adds``."""
    _check(backend)
    if backend == "torch":
        from cnnlab.errors import require

        require("torch", "torch")
        from cnnlab.torch_backend.summary import summary_rows

        return summary_rows(model, image_size, num_classes, dropout)
    return _numpy_summary(model, image_size, num_classes, dropout).to_dict()["layers"]
