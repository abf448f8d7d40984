"""``Sequential`` and :func:`build_model`: the lab's named architectures in NumPy.

Parameters are named like ``torch.nn.Sequential``'s: ``"{index}.weight"`` / ``"{index}.bias"`` where
``index`` is the layer's position in the architecture's spec list (:mod:`cnnlab.architectures`), so a
NumPy state dict and a PyTorch one have the same keys (layouts differ; see :mod:`cnnlab.nn.convert`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import ModuleType

import numpy as np

from cnnlab import architectures as arch
from cnnlab.nn.layers import (
    AvgPool2D,
    Conv2D,
    Dropout,
    Flatten,
    Layer,
    Linear,
    MaxPool2D,
    ReLU,
)


class Sequential:
    """Layers applied in order. ``forward(x)`` then ``backward(dlogits)`` fill every layer's ``grads``."""

    def __init__(
        self, layers: list[Layer], name: str = "sequential", input_shape: tuple[int, int, int] | None = None
    ) -> None:
        self.layers = list(layers)
        self.name = name
        self.input_shape = input_shape  # (H, W, C) of one sample, when known
        self.training = True

    # -- computing ------------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x (N, H, W, C)`` -> logits ``(N, K)``."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    __call__ = forward

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """``dout``: gradient of the loss w.r.t. the output of the last ``forward``; returns ``dL/dx``.

        ``input_grad=False`` (training: nobody needs ``dL/dx``) lets a first conv layer skip computing it;
        the return value is then None.
        """
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            if i == 0 and not input_grad and isinstance(layer, Conv2D):
                layer.backward(dout, input_grad=False)
                return None
            dout = layer.backward(dout)
        return dout if input_grad else None

    def clear(self) -> None:
        """Drop every layer's saved activations (after evaluation, to free memory)."""
        for layer in self.layers:
            layer.clear()

    def train(self, mode: bool = True) -> Sequential:
        """Training mode (dropout active); ``train(False)`` is :meth:`eval`."""
        self.training = mode
        for layer in self.layers:
            layer.training = mode
        return self

    def eval(self) -> Sequential:
        return self.train(False)

    def set_rng(self, rng: np.random.Generator) -> None:
        """Draw every dropout mask from ``rng`` from now on."""
        for layer in self.layers:
            if isinstance(layer, Dropout):
                layer.rng = rng

    # -- parameters -----------------------------------------------------------------------------
    def named_layers(self) -> Iterator[tuple[str, Layer]]:
        for i, layer in enumerate(self.layers):
            yield str(i), layer

    def parameters(self) -> dict[str, np.ndarray]:
        """The live parameter arrays by name (an optimizer updates them in place)."""
        return {f"{i}.{k}": v for i, layer in self.named_layers() for k, v in layer.params.items()}

    def gradients(self) -> dict[str, np.ndarray]:
        """The gradients from the last ``backward``, by parameter name."""
        out = {}
        for i, layer in self.named_layers():
            for k in layer.params:
                if k not in layer.grads:
                    raise RuntimeError(f"no gradient for {i}.{k}: call forward and backward first")
                out[f"{i}.{k}"] = layer.grads[k]
        return out

    def num_params(self) -> int:
        return int(sum(p.size for p in self.parameters().values()))

    @property
    def dtype(self) -> np.dtype:
        params = self.parameters()
        return next(iter(params.values())).dtype if params else np.dtype(np.float32)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters, by name (NumPy layouts)."""
        return {k: v.copy() for k, v in self.parameters().items()}

    def load_state_dict(self, state: Mapping[str, np.ndarray], strict: bool = True) -> None:
        """Copy ``state`` into the parameters (cast to the model's dtype); checks names and shapes.

        ``strict``: every parameter must be present and no other key may be (as in PyTorch).
        """
        params = self.parameters()
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        if strict and (missing or unexpected):
            raise ValueError(
                f"state dict does not match the model: missing {missing}, unexpected {unexpected}"
            )
        for k, p in params.items():
            if k not in state:
                continue
            v = np.asarray(state[k])
            if v.shape != p.shape:
                raise ValueError(f"state dict: {k} has shape {v.shape} but the model expects {p.shape}")
            p[...] = v

    def __repr__(self) -> str:
        lines = [f"Sequential({self.name})"] + [f"  ({i}): {layer!r}" for i, layer in self.named_layers()]
        return "\n".join(lines)


def build_model(
    name: str,
    image_size: int | None = None,
    num_classes: int = 2,
    dropout: float = 0.0,
    dtype: np.dtype | type | str = np.float32,
    seed: int | None = None,
    init: str = "kaiming",
    in_channels: int = 3,
    ops: ModuleType | None = None,
) -> Sequential:
    """The architecture ``name`` (``"simple"`` or ``"cnn"``) as a NumPy :class:`Sequential`.

    ``image_size`` defaults to the architecture's own (16 for ``simple``, 64 for ``cnn``); it sets the
    input features of the first Linear layer (e.g. 1296 = 16 * 9 * 9 for ``simple`` at 16). ``init``:
    ``"kaiming"`` (default), ``"lab"`` or ``"torch"`` (:mod:`cnnlab.nn.init`); ``seed`` makes the
    weights and the dropout masks reproducible. ``ops``: the module providing the conv/pool functions
    (default :mod:`cnnlab.ops`).
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, not {dtype}")
    if image_size is None:
        image_size = arch.DEFAULT_IMAGE_SIZE.get(name, 64)
    specs = arch.get_architecture(name, num_classes=num_classes, dropout=dropout)
    shapes = arch.output_shapes(specs, image_size, in_channels)
    rng = np.random.default_rng(seed)
    layers: list[Layer] = []
    prev: tuple[int, ...] = (in_channels, image_size, image_size)
    for spec, shape in zip(specs, shapes, strict=True):
        if isinstance(spec, arch.Conv):
            layers.append(
                Conv2D(
                    prev[0],
                    spec.out_channels,
                    spec.kernel_size,
                    spec.stride,
                    spec.padding,
                    init=init,
                    rng=rng,
                    dtype=dtype,
                    ops=ops,
                )
            )
        elif isinstance(spec, arch.ReLU):
            # in place on a conv/Linear output: nothing else holds that array (conv caches its input)
            layers.append(ReLU(inplace=bool(layers) and isinstance(layers[-1], Conv2D | Linear)))
        elif isinstance(spec, arch.MaxPool):
            layers.append(MaxPool2D(spec.kernel_size, spec.stride, ops=ops))
        elif isinstance(spec, arch.AvgPool):
            layers.append(AvgPool2D(spec.kernel_size, spec.stride, ops=ops))
        elif isinstance(spec, arch.Flatten):
            layers.append(Flatten())
        elif isinstance(spec, arch.Dropout):
            layers.append(Dropout(spec.p))
        elif isinstance(spec, arch.Linear):
            layers.append(Linear(prev[0], spec.out_features, init=init, rng=rng, dtype=dtype))
        else:  # pragma: no cover - a spec type added without a layer
            raise TypeError(f"no NumPy layer for spec {spec!r}")
        prev = shape
    model = Sequential(layers, name=name, input_shape=(image_size, image_size, in_channels))
    model.set_rng(np.random.default_rng(None if seed is None else [seed, 1]))
    return model
