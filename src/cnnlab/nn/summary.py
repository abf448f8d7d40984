"""A model's layer table: output shape, parameters and mult-adds per layer, with totals.

The numbers are torchinfo's for the same architecture (``torchinfo.summary(model, (1, 3, H, W))``):
output shapes are written PyTorch-style ``[batch, C, H, W]`` (NumPy holds them NHWC), parameter counts
are per layer, and mult-adds count one multiply-add per weight use: ``(|W| + |b|) * H_out * W_out`` for a
conv, ``|W| + |b|`` per sample for a Linear. For the lab's ``cnn`` at 64x64 the total is 548,258.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnlab.nn.layers import Conv2D, Linear
from cnnlab.nn.model import Sequential, build_model


@dataclass(frozen=True)
class SummaryRow:
    index: int
    layer: str  # class name, e.g. "Conv2D"
    output_shape: tuple[int, ...]  # [batch, C, H, W] or [batch, features]
    params: int
    mult_adds: int


@dataclass
class ModelSummary:
    name: str
    input_shape: tuple[int, ...]  # [batch, C, H, W]
    rows: list[SummaryRow] = field(default_factory=list)

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def trainable_params(self) -> int:
        return self.total_params  # every parameter of cnnlab.nn is trained

    @property
    def total_mult_adds(self) -> int:
        return sum(r.mult_adds for r in self.rows)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "layers": [
                {
                    "index": r.index,
                    "layer": r.layer,
                    "output_shape": list(r.output_shape),
                    "params": r.params,
                    "mult_adds": r.mult_adds,
                }
                for r in self.rows
            ],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_mult_adds": self.total_mult_adds,
        }

    def __str__(self) -> str:
        head = ("Layer (type:idx)", "Output Shape", "Param #", "Mult-adds")
        body = [
            (
                f"{r.layer}: {r.index}",
                str(list(r.output_shape)),
                f"{r.params:,}" if r.params else "--",
                f"{r.mult_adds:,}" if r.mult_adds else "--",
            )
            for r in self.rows
        ]
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
        rule = "=" * (sum(widths) + 6)

        def fmt(cells: tuple[str, ...]) -> str:
            return "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )

        lines = [rule, f"{self.name}: input {list(self.input_shape)}", rule, fmt(head), rule]
        lines += [fmt(b) for b in body]
        lines += [
            rule,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            "Non-trainable params: 0",
            f"Total mult-adds (M): {self.total_mult_adds / 1e6:.2f}",
            f"Params size (MB, float32): {self.total_params * 4 / 1e6:.2f}",
            rule,
        ]
        return "\n".join(lines)


def summarize(model: Sequential | str, image_size: int | None = None, batch_size: int = 1) -> ModelSummary:
    """The layer table of ``model`` (a :class:`Sequential` or an architecture name).

    Shapes come from one forward pass of zeros (evaluation mode, the model's dtype).
    """
    if isinstance(model, str):
        model = build_model(model, image_size=image_size, seed=0)
    if model.input_shape is None and image_size is None:
        raise ValueError("summarize: the model has no input_shape; pass image_size")
    channels = model.input_shape[2] if model.input_shape is not None else 3
    h, w, c = model.input_shape if image_size is None else (image_size, image_size, channels)
    was_training = model.training
    model.eval()
    x = np.zeros((batch_size, h, w, c), dtype=model.dtype)
    rows = []
    try:
        for i, layer in enumerate(model.layers):
            x = layer.forward(x)
            shape = (x.shape[0], x.shape[3], x.shape[1], x.shape[2]) if x.ndim == 4 else tuple(x.shape)
            params = int(sum(p.size for p in layer.params.values()))
            if isinstance(layer, Conv2D):
                macs = params * x.shape[1] * x.shape[2] * batch_size
            elif isinstance(layer, Linear):
                macs = params * batch_size
            else:
                macs = 0
            rows.append(SummaryRow(i, type(layer).__name__, shape, params, macs))
    finally:
        model.train(was_training)
        model.clear()  # drop the activations of the zero batch
    return ModelSummary(model.name, (batch_size, c, h, w), rows)


def layer_table(model: str, image_size: int | None = None, num_classes: int = 2, dropout: float = 0.0) -> str:
    """The printed layer table of architecture ``model`` for ``image_size`` inputs (the registry's entry)."""
    return str(summarize(build_model(model, image_size, num_classes, dropout, seed=0), image_size)) + "\n"


def layer_rows(
    model: str, image_size: int | None = None, num_classes: int = 2, dropout: float = 0.0
) -> list[dict[str, Any]]:
    """One dict per layer: ``index``, ``layer``, ``output_shape``, ``params``, ``mult_adds``."""
    return summarize(build_model(model, image_size, num_classes, dropout, seed=0), image_size).to_dict()[
        "layers"
    ]
