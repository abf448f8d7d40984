"""The lab's exercise 8 — a tiny CNN trained with the lab's own functions — as written, and fixed.

The model: ``Conv(16 filters, 3x3, stride 1, pad 2) -> ReLU -> MaxPool(2x2, stride 2) -> Dense(1296 -> 2)``
on 16x16x3 images (``16 + 2*2 - 3 + 1 = 18``, pooled to ``9``, ``9 * 9 * 16 = 1296``), trained with
softmax cross-entropy and plain gradient descent, built from :func:`cnnlab.ops.conv_forward`,
:func:`cnnlab.ops.pool_forward` and their backward passes exactly as the lab assembles them.

As the lab writes it, the network cannot learn. Four defects, each fixed in :func:`train_fixed`:

1. **The fully connected weights are never updated.** The lab writes ``W_fc == W_fc - lr * dW_fc``:
   ``==`` compares the two arrays and throws the result away. Fix: ``W_fc -= lr * dW_fc``. (The bias and
   the conv filters *are* updated, so the loss moves a little and the bug hides.)
2. **The softmax derivative is applied twice.** ``dZ = (p - onehot) / N`` is already the gradient of
   the cross-entropy *with respect to the logits* — softmax and cross-entropy differentiated together.
   The lab then multiplies it by the softmax's derivative ``p * (1 - p)`` again, which shrinks every
   gradient by a factor ``<= 1/4`` and vanishes exactly when the prediction is confidently wrong. Fix:
   use ``(p - onehot) / N`` as it is (:func:`cnnlab.nn.softmax_cross_entropy`).
3. **Raw 0-255 pixels.** Inputs in ``[0, 255]`` make the conv outputs and the gradients ~255 times
   larger than the weights were initialised for: the first steps either do nothing (tiny learning rate)
   or overshoot. Fix: ``(x / 255 - 0.5) / 0.5`` (:func:`cnnlab.data.normalize`), inputs in ``[-1, 1]``.
4. **The whole training set is one batch.** One gradient step per epoch, always on the same batch:
   few updates and no stochasticity. Fix: seeded, shuffled mini-batches of ``batch_size`` images.

:func:`train_as_written` reproduces the lab's loop with all four defects (it is here to be shown
failing); :func:`train_fixed` is the same loop with the four fixes and learns.

The lab's contract (what students write and ``cnnlab grade`` marks), with parameters and gradients in
dicts and the forward pass's intermediate values in one ``caches`` tuple:

- ``parameters = {"W1": (3, 3, C, 16), "b1": (1, 1, 1, 16), "W_fc": (n_fc, K), "b_fc": (1, K)}``;
- :func:`forward_propagation` ``(X, parameters) -> (A_last, caches)``: ``A_last = softmax(F @ W_fc +
  b_fc)`` of shape ``(m, K)``, ``caches = (conv_cache, Z1, pool_cache, P1, F, W_fc)``;
- :func:`compute_cost` ``(A_last, Y) = -(1/m) * sum(Y * log(A_last))`` with one-hot ``Y (m, K)``;
- :func:`backward_propagation` ``(A_last, Y, caches) -> {"dW1", "db1", "dW_fc", "db_fc"}``, the gradients
  of that cost (``dZ2 = (A_last - Y) / m``, once);
- :func:`update_parameters` ``(parameters, gradients, learning_rate)``: a new dict, ``W - lr * dW`` for
  each of the four keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnnlab import ops
from cnnlab.nn.losses import softmax, softmax_cross_entropy

CONV_HP = {"stride": 1, "pad": 2}
POOL_HP = {"f": 2, "stride": 2}


@dataclass
class Exercise8:
    """Parameters of the exercise-8 network and the loss of each epoch."""

    W1: np.ndarray  # (3, 3, C, 16)
    b1: np.ndarray  # (1, 1, 1, 16)
    W_fc: np.ndarray  # (1296, K) for 16x16 input
    b_fc: np.ndarray  # (1, K)
    losses: list[float] = field(default_factory=list)


def init_params(image_size: int = 16, channels: int = 3, num_classes: int = 2, seed: int = 2023) -> Exercise8:
    """The lab's initialisation: ``randn * 0.01`` weights, zero biases."""
    rng = np.random.default_rng(seed)
    side = (image_size + 2 * CONV_HP["pad"] - 3 + 1) // 2
    n_fc = side * side * 16
    return Exercise8(
        W1=0.01 * rng.standard_normal((3, 3, channels, 16)),
        b1=np.zeros((1, 1, 1, 16)),
        W_fc=0.01 * rng.standard_normal((n_fc, num_classes)),
        b_fc=np.zeros((1, num_classes)),
    )


def forward(net: Exercise8, X: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Logits ``(N, K)`` of images ``X (N, H, W, C)`` and the caches of the backward pass.

    ``Z1 = conv(X)``, ``A1 = relu(Z1)``, ``P1 = maxpool(A1)``, ``F = flatten(P1)``, ``Z2 = F @ W_fc + b_fc``.
    (The flatten is NHWC row-major, as the lab's ``reshape``.)
    """
    Z1, conv_cache = ops.conv_forward(X, net.W1, net.b1, CONV_HP)
    A1 = np.maximum(Z1, 0)
    P1, pool_cache = ops.pool_forward(A1, POOL_HP, mode="max")
    F = P1.reshape(P1.shape[0], -1)
    Z2 = F @ net.W_fc + net.b_fc
    return Z2, (conv_cache, Z1, pool_cache, P1.shape, F)


def backward(net: Exercise8, dZ2: np.ndarray, caches: tuple) -> dict[str, np.ndarray]:
    """Gradients of every parameter from ``dZ2`` (the gradient with respect to the logits)."""
    conv_cache, Z1, pool_cache, p_shape, F = caches
    dW_fc = F.T @ dZ2
    db_fc = dZ2.sum(axis=0, keepdims=True)
    dP1 = (dZ2 @ net.W_fc.T).reshape(p_shape)
    dA1 = ops.pool_backward(dP1, pool_cache, mode="max")
    dZ1 = dA1 * (Z1 > 0)
    _, dW1, db1 = ops.conv_backward(dZ1, conv_cache)
    return {"W1": dW1, "b1": db1, "W_fc": dW_fc, "b_fc": db_fc}


PARAMETER_KEYS = ("W1", "b1", "W_fc", "b_fc")
GRADIENT_KEYS = ("dW1", "db1", "dW_fc", "db_fc")


def forward_propagation(X: np.ndarray, parameters: dict[str, np.ndarray]) -> tuple[np.ndarray, tuple]:
    """The lab's forward pass: ``X (m, H, W, C)`` -> softmax probabilities ``A_last (m, K)`` and ``caches``.

    ``caches = (conv_cache, Z1, pool_cache, P1, F, W_fc)``: the conv cache ``(X, W1, b1, hparameters)``,
    the conv output ``Z1 (m, H+2, W+2, 16)``, the pool cache ``(A1, hparameters)``, the pooled ``P1``, its
    flattening ``F (m, n_fc)`` (NHWC row-major) and the dense weights ``W_fc (n_fc, K)``.
    """
    net = Exercise8(parameters["W1"], parameters["b1"], parameters["W_fc"], parameters["b_fc"])
    Z1, conv_cache = ops.conv_forward(X, net.W1, net.b1, CONV_HP)
    A1 = np.maximum(Z1, 0)
    P1, pool_cache = ops.pool_forward(A1, POOL_HP, mode="max")
    F = P1.reshape(P1.shape[0], -1)
    A_last = softmax(F @ net.W_fc + net.b_fc)
    return A_last, (conv_cache, Z1, pool_cache, P1, F, net.W_fc)


def compute_cost(A_last: np.ndarray, Y: np.ndarray) -> float:
    """Mean cross-entropy ``-(1/m) * sum(Y * log(A_last))`` of probabilities ``A_last`` and one-hot ``Y``."""
    return float(-np.sum(Y * np.log(A_last)) / A_last.shape[0])


def backward_propagation(A_last: np.ndarray, Y: np.ndarray, caches: tuple) -> dict[str, np.ndarray]:
    """The gradients of :func:`compute_cost` for every parameter: ``{"dW1", "db1", "dW_fc", "db_fc"}``.

    ``dZ2 = (A_last - Y) / m`` (softmax and cross-entropy together, applied once), ``dW_fc = F.T @ dZ2``,
    ``db_fc = sum(dZ2, axis 0)`` ``(1, K)``, ``dP1 = (dZ2 @ W_fc.T)`` reshaped as ``P1``, ``dA1`` by max-pool
    backward, ``dZ1 = dA1 * (Z1 > 0)``, then ``dW1 (3, 3, C, 16)`` and ``db1 (1, 1, 1, 16)`` by conv backward.
    """
    conv_cache, Z1, pool_cache, P1, F, W_fc = caches
    dZ2 = (A_last - Y) / A_last.shape[0]
    dP1 = (dZ2 @ W_fc.T).reshape(P1.shape)
    dA1 = ops.pool_backward(dP1, pool_cache, mode="max")
    _, dW1, db1 = ops.conv_backward(dA1 * (Z1 > 0), conv_cache)
    return {"dW1": dW1, "db1": db1, "dW_fc": F.T @ dZ2, "db_fc": dZ2.sum(axis=0, keepdims=True)}


def update_parameters(
    parameters: dict[str, np.ndarray], gradients: dict[str, np.ndarray], learning_rate: float
) -> dict[str, np.ndarray]:
    """One gradient-descent step, a new dict: ``parameters[k] - learning_rate * gradients["d" + k]``."""
    return {k: parameters[k] - learning_rate * gradients["d" + k] for k in PARAMETER_KEYS}


def _onehot(y: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k)[y]


def train_as_written(
    images: np.ndarray, labels: np.ndarray, epochs: int = 10, lr: float = 0.01, seed: int = 2023
) -> Exercise8:
    """The lab's training loop, defects included (see the module docstring). Do not use."""
    num_classes = int(labels.max()) + 1
    net = init_params(images.shape[1], images.shape[3], num_classes, seed)
    X = images.astype(np.float64)  # defect 3: raw 0-255 pixels
    Y = _onehot(labels, num_classes)
    for _ in range(epochs):  # defect 4: the whole training set is one batch
        Z2, caches = forward(net, X)
        p = softmax(Z2)
        net.losses.append(float(-np.mean(np.sum(Y * np.log(p + 1e-12), axis=1))))
        dZ2 = (p - Y) / X.shape[0]
        dZ2 = dZ2 * p * (1 - p)  # defect 2: the softmax derivative applied a second time
        g = backward(net, dZ2, caches)
        net.W1 -= lr * g["W1"]
        net.b1 -= lr * g["b1"]
        net.W_fc == net.W_fc - lr * g["W_fc"]  # noqa: B015 - defect 1, kept on purpose: a comparison
        net.b_fc -= lr * g["b_fc"]
    return net


def train_fixed(
    images: np.ndarray,
    labels: np.ndarray,
    epochs: int = 8,
    lr: float = 0.3,
    batch_size: int = 32,
    seed: int = 2023,
) -> Exercise8:
    """The lab's loop with the four defects fixed: ``-=``, one softmax derivative, normalised inputs,
    shuffled mini-batches. ``net.losses`` holds the mean training loss of each epoch."""
    from cnnlab.data import normalize

    num_classes = int(labels.max()) + 1
    net = init_params(images.shape[1], images.shape[3], num_classes, seed)
    X = normalize(images).astype(np.float64)  # fix 3
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    for _ in range(epochs):
        order = rng.permutation(n)  # fix 4
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            Z2, caches = forward(net, X[idx])
            loss, dZ2 = softmax_cross_entropy(Z2, labels[idx])  # fix 2: (p - onehot) / N, once
            total += loss * idx.size
            g = backward(net, dZ2, caches)
            net.W1 -= lr * g["W1"]
            net.b1 -= lr * g["b1"]
            net.W_fc -= lr * g["W_fc"]  # fix 1
            net.b_fc -= lr * g["b_fc"]
        net.losses.append(total / n)
    return net


def predict(net: Exercise8, images: np.ndarray, normalized: bool = True) -> np.ndarray:
    """Predicted labels ``(N,)`` for uint8 images; ``normalized=False`` feeds raw pixels (the lab's way)."""
    from cnnlab.data import normalize

    X = normalize(images).astype(np.float64) if normalized else images.astype(np.float64)
    Z2, _ = forward(net, X)
    return Z2.argmax(axis=1)
