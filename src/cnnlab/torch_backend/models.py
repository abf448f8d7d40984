"""The named architectures of :mod:`cnnlab.architectures` as ``torch.nn.Sequential`` models.

Both backends build from the same layer specs, so ``build_model("cnn")`` here and
``cnnlab.nn.build_model("cnn")`` have the same layers at the same indices and the same parameter names
(``"{index}.weight"``, ``"{index}.bias"``). Inputs are NCHW float tensors normalised to ``[-1, 1]``
(:func:`cnnlab.data.normalize`); outputs are logits ``(N, num_classes)``.

Initialisation is PyTorch's default (Kaiming-uniform with ``a = sqrt(5)`` for weights,
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for biases), as in the lab; seed with ``torch.manual_seed``.
"""

from __future__ import annotations

from torch import nn

from cnnlab.architectures import (
    DEFAULT_IMAGE_SIZE,
    AvgPool,
    Conv,
    Dropout,
    Flatten,
    LayerSpec,
    Linear,
    MaxPool,
    ReLU,
    get_architecture,
    output_shapes,
)


def layers_from_specs(specs: list[LayerSpec], image_size: int, in_channels: int = 3) -> list[nn.Module]:
    """One ``torch.nn`` module per spec; Linear input sizes follow from ``image_size`` (square inputs)."""
    shapes = output_shapes(specs, image_size, in_channels)
    modules: list[nn.Module] = []
    prev: tuple[int, ...] = (in_channels, image_size, image_size)
    for spec, shape in zip(specs, shapes, strict=True):
        if isinstance(spec, Conv):
            modules.append(
                nn.Conv2d(
                    prev[0], spec.out_channels, spec.kernel_size, stride=spec.stride, padding=spec.padding
                )
            )
        elif isinstance(spec, ReLU):
            modules.append(nn.ReLU(inplace=True))  # saves an allocation per step (~10% of a CPU step)
        elif isinstance(spec, MaxPool):
            modules.append(nn.MaxPool2d(spec.kernel_size, spec.stride))
        elif isinstance(spec, AvgPool):
            modules.append(nn.AvgPool2d(spec.kernel_size, spec.stride))
        elif isinstance(spec, Flatten):
            modules.append(nn.Flatten())
        elif isinstance(spec, Dropout):
            modules.append(nn.Dropout(spec.p))
        elif isinstance(spec, Linear):
            if len(prev) != 1:
                raise ValueError(f"Linear needs a flat input, got shape {prev}; add a Flatten before it")
            modules.append(nn.Linear(prev[0], spec.out_features))
        else:  # pragma: no cover - a new spec type without a torch counterpart
            raise TypeError(f"no torch layer for spec {spec!r}")
        prev = shape
    return modules


class CNNClassifier(nn.Sequential):
    """The lab's ``CNNClassifier``: three Conv(3x3, pad 1) -> ReLU -> MaxPool(2) blocks (16, 32, 64
    filters), Flatten, Linear(4096 -> 128), ReLU, Linear(128 -> ``num_classes``) at 64x64x3 input:
    548,258 parameters. ``dropout > 0`` adds Dropout before each Linear (the ``improved`` recipe).

    ``forward``: ``(N, in_channels, H, W)`` float -> logits ``(N, num_classes)``.
    """

    def __init__(
        self, num_classes: int = 2, image_size: int = 64, dropout: float = 0.0, in_channels: int = 3
    ):
        specs = get_architecture("cnn", num_classes, dropout)
        super().__init__(*layers_from_specs(specs, image_size, in_channels))


def build_model(
    name: str, image_size: int | None = None, num_classes: int = 2, dropout: float = 0.0
) -> nn.Sequential:
    """Architecture ``name`` (``"simple"`` or ``"cnn"``) as an ``nn.Sequential`` on the CPU, float32.

    ``image_size`` defaults to the architecture's own (16 for ``simple``, 64 for ``cnn``). Raises
    ``ValueError`` for an unknown name, ``num_classes < 2``, a dropout outside ``[0, 1)`` or an image too
    small for the layers.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    specs = get_architecture(name, num_classes, dropout)  # ValueError for an unknown name
    size = DEFAULT_IMAGE_SIZE[name] if image_size is None else int(image_size)
    if name == "cnn":
        return CNNClassifier(num_classes=num_classes, image_size=size, dropout=dropout)
    return nn.Sequential(*layers_from_specs(specs, size))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["CNNClassifier", "build_model", "count_parameters", "layers_from_specs"]
