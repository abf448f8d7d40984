"""The lab's two architectures, defined once for both backends.

An architecture is a list of layer specs; ``cnnlab.nn`` and ``cnnlab.torch_backend`` each build their
own layers from the same list, so the two backends cannot drift apart.

- ``simple``: the lab's exercise 8 — Conv(16, 3x3, stride 1, pad 2) -> ReLU -> MaxPool(2, 2) -> Flatten
  -> Linear(1296 -> 2) at 16x16x3 input.
- ``cnn``: the lab's ``CNNClassifier`` — three blocks Conv(3x3, pad 1; 16, 32, 64 filters) -> ReLU ->
  MaxPool(2, 2), then Flatten -> Linear(4096 -> 128) -> ReLU -> Linear(128 -> 2) at 64x64x3: 548,258
  parameters. ``dropout > 0`` inserts Dropout layers before each Linear (no parameters), as the
  ``improved`` recipe does.

Flatten follows PyTorch's order (channels, height, width), so a weight of one backend is the weight of
the other without permutation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Conv:
    """2-D cross-correlation: ``out_channels`` filters of ``kernel_size`` x ``kernel_size``."""

    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0


@dataclass(frozen=True)
class ReLU:
    pass


@dataclass(frozen=True)
class MaxPool:
    """Max pooling; ``stride`` defaults to ``kernel_size`` as in PyTorch."""

    kernel_size: int
    stride: int | None = None


@dataclass(frozen=True)
class AvgPool:
    kernel_size: int
    stride: int | None = None


@dataclass(frozen=True)
class Flatten:
    pass


@dataclass(frozen=True)
class Dropout:
    p: float


@dataclass(frozen=True)
class Linear:
    out_features: int


LayerSpec = Conv | ReLU | MaxPool | AvgPool | Flatten | Dropout | Linear

#: Input side (pixels) each architecture is defined at.
DEFAULT_IMAGE_SIZE = {"simple": 16, "cnn": 64}


def simple(num_classes: int = 2, dropout: float = 0.0) -> list[LayerSpec]:
    """The lab's exercise-8 model."""
    layers: list[LayerSpec] = [Conv(16, 3, stride=1, padding=2), ReLU(), MaxPool(2, 2), Flatten()]
    if dropout > 0:
        layers.append(Dropout(dropout))
    layers.append(Linear(num_classes))
    return layers


def cnn(num_classes: int = 2, dropout: float = 0.0) -> list[LayerSpec]:
    """The lab's ``CNNClassifier``."""
    layers: list[LayerSpec] = []
    for width in (16, 32, 64):
        layers += [Conv(width, 3, stride=1, padding=1), ReLU(), MaxPool(2, 2)]
    layers.append(Flatten())
    if dropout > 0:
        layers.append(Dropout(dropout))
    layers += [Linear(128), ReLU()]
    if dropout > 0:
        layers.append(Dropout(dropout))
    layers.append(Linear(num_classes))
    return layers


ARCHITECTURES = {"simple": simple, "cnn": cnn}


def get_architecture(name: str, num_classes: int = 2, dropout: float = 0.0) -> list[LayerSpec]:
    """The layer specs of architecture ``name`` (``"simple"`` or ``"cnn"``)."""
    try:
        build = ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(ARCHITECTURES)}") from None
    return build(num_classes=num_classes, dropout=dropout)


def output_shapes(layers: list[LayerSpec], image_size: int, in_channels: int = 3) -> list[tuple[int, ...]]:
    """Shape of one sample after each layer, NCHW-style ``(C, H, W)`` or ``(features,)``.

    ``n_out = floor((n_in + 2*pad - f) / stride) + 1`` for conv and pool. Raises ``ValueError`` when the
    image is too small for a window.
    """
    shape: tuple[int, ...] = (in_channels, image_size, image_size)
    shapes = []
    for layer in layers:
        if isinstance(layer, Conv | MaxPool | AvgPool):
            c, h, w = shape
            f = layer.kernel_size
            pad = layer.padding if isinstance(layer, Conv) else 0
            stride = layer.stride or f
            if h + 2 * pad < f or w + 2 * pad < f:
                raise ValueError(
                    f"image of {image_size}x{image_size} is too small: a {f}x{f} window does not fit "
                    f"a {h}x{w} input at {type(layer).__name__}"
                )
            h = (h + 2 * pad - f) // stride + 1
            w = (w + 2 * pad - f) // stride + 1
            shape = (layer.out_channels if isinstance(layer, Conv) else c, h, w)
        elif isinstance(layer, Flatten):
            n = 1
            for d in shape:
                n *= d
            shape = (n,)
        elif isinstance(layer, Linear):
            shape = (layer.out_features,)
        shapes.append(shape)
    return shapes
