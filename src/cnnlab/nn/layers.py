"""Layers: thin stateful shells over the functional ops of :mod:`cnnlab.ops`.

Every layer has ``forward(x) -> out`` and ``backward(dout) -> dx``; ``backward`` uses what the last
``forward`` kept, so call them in pairs. A layer with parameters exposes them in ``params`` (``"weight"``,
``"bias"``) and, after ``backward``, the gradients of the loss in ``grads`` under the same names.
Gradients are *overwritten* by each ``backward`` (never accumulated), so there is no ``zero_grad``.

Activations are NHWC, ``(N, H, W, C)``, as in the lab; conv weights are ``W (f, f, C_in, C_out)`` with
bias ``b (1, 1, 1, C_out)``; Linear weights are ``W (in, out)`` with bias ``b (out,)``, so
``out = x @ W + b``. :class:`Flatten` uses PyTorch's ``(C, H, W)`` order, so a Linear weight here is
PyTorch's ``weight.T`` with no permutation of its rows.

The convolution and pooling arithmetic is :func:`cnnlab.ops.conv_forward` and friends; a layer's
``ops`` attribute names the module it calls (``cnnlab.ops`` by default, ``cnnlab.ops.loops`` for the
slow reference), so the same network can run on either.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from cnnlab.nn import init as _init


def _default_ops() -> ModuleType:
    import cnnlab.ops

    return cnnlab.ops


class Layer:
    """Base class: no parameters, identity shape unless overridden."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def clear(self) -> None:
        """Drop what the last ``forward`` kept for ``backward`` (frees the activations)."""
        for attr in ("_cache", "_mask", "_x", "_shape"):
            if hasattr(self, attr):
                setattr(self, attr, None)

    def _check_forward_called(self, attr: str) -> None:
        if getattr(self, attr, None) is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")


class Conv2D(Layer):
    """2-D cross-correlation over NHWC input, through :func:`cnnlab.ops.conv_forward`.

    ``x (N, H, W, C_in) -> out (N, H', W', C_out)``, ``H' = floor((H + 2*padding - f) / stride) + 1``;
    ``out[n, i, j, c] = sum_{p, q, k} x_pad[n, i*s + p, j*s + q, k] * W[p, q, k, c] + b[0, 0, 0, c]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        *,
        init: str = "kaiming",
        rng: np.random.Generator | None = None,
        dtype: np.dtype | type = np.float32,
        ops: ModuleType | None = None,
    ) -> None:
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        w_shape = (kernel_size, kernel_size, in_channels, out_channels)
        self.params["weight"] = _init.init_weight(w_shape, init, rng, dtype)
        self.params["bias"] = _init.init_bias((1, 1, 1, out_channels), w_shape, init, rng, dtype)
        self.hparameters = {"stride": stride, "pad": padding}
        self.ops = ops if ops is not None else _default_ops()
        self._cache: tuple | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = self.ops.conv_forward(
            x, self.params["weight"], self.params["bias"], self.hparameters
        )
        return out

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Fill ``grads`` and return ``dL/dx``; ``input_grad=False`` (a network's first layer) may skip
        ``dL/dx`` and return None, when the ops support it (``compute_dA_prev=False``).

        The im2col matrix is rebuilt here rather than kept from ``forward`` (the ops' optional
        ``conv_forward_cols``): the ops build it in cache-sized chunks, which measured faster than keeping
        it (66 vs 70 ms a ``cnn`` step) and the step's peak memory drops from 69 to 26 MB.
        """
        self._check_forward_called("_cache")
        if not input_grad and self._can_skip_input_grad():
            dx, dW, db = self.ops.conv_backward(dout, self._cache, compute_dA_prev=False)
        else:
            dx, dW, db = self.ops.conv_backward(dout, self._cache)
        self.grads["weight"], self.grads["bias"] = dW, db
        self._cache = None  # free the input early; backward needs a fresh forward
        return dx

    def _can_skip_input_grad(self) -> bool:
        import inspect

        return "compute_dA_prev" in inspect.signature(self.ops.conv_backward).parameters

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )


class _Pool2D(Layer):
    mode = "max"

    def __init__(self, kernel_size: int, stride: int | None = None, *, ops: ModuleType | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size  # PyTorch's default
        self.hparameters = {"f": kernel_size, "stride": self.stride}
        self.ops = ops if ops is not None else _default_ops()
        self._cache: tuple | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = self.ops.pool_forward(x, self.hparameters, mode=self.mode)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._check_forward_called("_cache")
        dx = self.ops.pool_backward(dout, self._cache, mode=self.mode)
        self._cache = None
        return dx

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool2D(_Pool2D):
    """Max pooling, no padding; ``stride`` defaults to ``kernel_size``. Ties: first maximum (row-major)."""

    mode = "max"


class AvgPool2D(_Pool2D):
    """Average pooling, no padding; ``stride`` defaults to ``kernel_size``."""

    mode = "average"


class ReLU(Layer):
    """``out = max(x, 0)``; ``dx = dout * (x > 0)`` (the subgradient at 0 is 0, as in PyTorch).

    ``inplace=True`` (as ``torch.nn.ReLU(inplace=True)``) overwrites ``x`` in ``forward`` and ``dout`` in
    ``backward`` instead of allocating new arrays; :func:`cnnlab.nn.build_model` uses it where the input
    is a fresh conv or Linear output that nothing else holds.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.maximum(x, 0, out=x if self.inplace else None)
        self._mask = out > 0  # out > 0 exactly where x > 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._check_forward_called("_mask")
        mask, self._mask = self._mask, None
        return np.multiply(dout, mask, out=dout if self.inplace else None)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Flatten(Layer):
    """``(N, H, W, C) -> (N, C*H*W)`` in PyTorch's ``(C, H, W)`` order; ``(N, F)`` passes through."""

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        if x.ndim == 2:
            return x
        return x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._check_forward_called("_shape")
        shape, self._shape = self._shape, None
        if len(shape) == 2:
            return dout
        n, h, w, c = shape
        return np.ascontiguousarray(dout.reshape(n, c, h, w).transpose(0, 2, 3, 1))


class Linear(Layer):
    """Fully connected: ``x (N, in) -> out = x @ W + b``, ``W (in, out)``, ``b (out,)``.

    Backward: ``dW = x.T @ dout``, ``db = 1.T @ dout`` (sum over the batch), ``dx = dout @ W.T``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        init: str = "kaiming",
        rng: np.random.Generator | None = None,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng()
        self.in_features, self.out_features = in_features, out_features
        w_shape = (in_features, out_features)
        self.params["weight"] = _init.init_weight(w_shape, init, rng, dtype)
        self.params["bias"] = _init.init_bias((out_features,), w_shape, init, rng, dtype)
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"Linear: expected input (N, {self.in_features}) but got shape {x.shape} "
                f"(W.shape={self.params['weight'].shape})"
            )
        self._x = x
        return x @ self.params["weight"] + self.params["bias"]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._check_forward_called("_x")
        x, self._x = self._x, None
        self.grads["weight"] = x.T @ dout
        self.grads["bias"] = np.ones(dout.shape[0], dtype=dout.dtype) @ dout
        return dout @ self.params["weight"].T

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


#: The lab's name for a fully connected layer.
Dense = Linear


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``p`` and scale the rest by
    ``1 / (1 - p)``; in evaluation, the identity. ``rng`` draws the masks (set by the model)."""

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng if rng is not None else np.random.default_rng()
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float64) >= self.p
        self._mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self._mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._mask is None:
            return dout
        dx = dout * self._mask
        self._mask = None
        return dx

    def extra_repr(self) -> str:
        return f"p={self.p}"
