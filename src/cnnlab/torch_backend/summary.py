"""A model's layer table through torchinfo: output shape, parameters and mult-adds per layer.

The same numbers as :mod:`cnnlab.nn.summary` (548,258 parameters for ``cnn`` at 64x64): output shapes are
``[batch, C, H, W]`` / ``[batch, features]``, mult-adds are ``(|W| + |b|) * H_out * W_out`` for a conv
and ``|W| + |b|`` per sample for a Linear.
"""

from __future__ import annotations

from typing import Any

import torch

from cnnlab.architectures import DEFAULT_IMAGE_SIZE
from cnnlab.torch_backend.models import build_model


def summarize(name: str, image_size: int | None = None, num_classes: int = 2, dropout: float = 0.0) -> Any:
    """``torchinfo.summary`` of architecture ``name`` for one ``(1, 3, H, W)`` input (a ``ModelStatistics``).

    Builds the model under :func:`torch.random.fork_rng`, so the global RNG is left as it was.
    """
    from cnnlab.errors import require

    torchinfo = require("torchinfo", "torch")
    side = DEFAULT_IMAGE_SIZE.get(name, 0) if image_size is None else int(image_size)
    with torch.random.fork_rng(devices=[]):
        model = build_model(name, image_size, num_classes, dropout)  # ValueError for an unknown name
    return torchinfo.summary(
        model,
        input_size=(1, 3, side, side),
        verbose=0,
        col_names=("output_size", "num_params", "mult_adds"),
        device="cpu",
    )


def summary_rows(
    name: str, image_size: int | None = None, num_classes: int = 2, dropout: float = 0.0
) -> list[dict]:
    """One dict per layer: ``index`` (its position in the Sequential), ``layer`` (class name),
    ``output_shape`` (list), ``params``, ``mult_adds``."""
    stats = summarize(name, image_size, num_classes, dropout)
    return [
        {
            "index": int(layer.var_name),
            "layer": layer.class_name,
            "output_shape": list(layer.output_size),
            "params": int(layer.num_params),
            "mult_adds": int(layer.macs),
        }
        for layer in stats.summary_list
        if layer.depth == 1
    ]


def summary_text(name: str, image_size: int | None = None, num_classes: int = 2, dropout: float = 0.0) -> str:
    """torchinfo's printed table (what ``summary.txt`` of a torch run holds)."""
    return str(summarize(name, image_size, num_classes, dropout)) + "\n"


#: The registry's names (:class:`cnnlab.backends.Backend`).
layer_table = summary_text
layer_rows = summary_rows
