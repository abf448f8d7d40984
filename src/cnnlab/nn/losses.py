"""Softmax cross-entropy, numerically stable, with label smoothing and the fused gradient.

For logits ``z (N, K)`` and integer labels ``y (N,)``:

- ``log p = z - max(z) - log(sum(exp(z - max(z))))`` (log-sum-exp; never ``log(softmax)``);
- the target is ``t = (1 - eps) * onehot(y) + eps / K`` (``eps`` = ``label_smoothing``, as in
  ``torch.nn.CrossEntropyLoss(label_smoothing=eps)``);
- ``loss = -(1/N) * sum_n sum_k t[n, k] * log p[n, k]``;
- ``dloss/dz = (p - t) / N`` — softmax and cross-entropy differentiated together. This is already the
  gradient with respect to the *logits*: multiplying it by the softmax's derivative again is the bug of
  the lab's exercise 8 (see :mod:`cnnlab.nn.lab_exercise8`).

:func:`soft_cross_entropy` takes any target distribution ``t (N, K)`` instead of labels (mixup's blend
of two targets, see :mod:`cnnlab.data.mixup`): the same loss and gradient, as PyTorch's
``cross_entropy`` with probability targets.
"""

from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise ``log softmax`` of ``(N, K)`` logits, computed with the per-row max subtracted."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, K)`` logits; rows sum to 1; no overflow for large logits."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _check(logits: np.ndarray, labels: np.ndarray, label_smoothing: float) -> np.ndarray:
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must be (N, K) but have shape {logits.shape}")
    labels = np.asarray(labels)
    if labels.shape != (logits.shape[0],):
        raise ValueError(
            f"cross_entropy: labels must have shape ({logits.shape[0]},) to match logits {logits.shape}, "
            f"got {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"cross_entropy: labels must be integers, got dtype {labels.dtype}")
    k = logits.shape[1]
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"cross_entropy: labels must be in [0, {k - 1}], got {labels.min()}..{labels.max()}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    return labels


def cross_entropy(logits: np.ndarray, labels: np.ndarray, label_smoothing: float = 0.0) -> float:
    """Mean softmax cross-entropy of ``logits (N, K)`` against ``labels (N,)``; see the module docstring."""
    labels = _check(logits, labels, label_smoothing)
    logp = log_softmax(logits)
    n, k = logits.shape
    nll = -logp[np.arange(n), labels]
    if label_smoothing:
        nll = (1.0 - label_smoothing) * nll - (label_smoothing / k) * logp.sum(axis=1)
    return float(nll.mean())


def softmax_cross_entropy(
    logits: np.ndarray, labels: np.ndarray, label_smoothing: float = 0.0
) -> tuple[float, np.ndarray]:
    """Loss and its gradient with respect to the logits, in one pass.

    Returns
    -------
    loss : float, the mean cross-entropy (with label smoothing ``eps``)
    dlogits : (N, K) array of the logits' dtype, ``(softmax(logits) - t) / N``
    """
    labels = _check(logits, labels, label_smoothing)
    n, k = logits.shape
    logp = log_softmax(logits)
    rows = np.arange(n)
    nll = -logp[rows, labels]
    if label_smoothing:
        nll = (1.0 - label_smoothing) * nll - (label_smoothing / k) * logp.sum(axis=1)
    loss = float(nll.mean())
    target = smoothed_targets(labels, k, label_smoothing, logp.dtype)
    dlogits = (np.exp(logp) - target) / logits.dtype.type(n)
    return loss, dlogits


def smoothed_targets(
    labels: np.ndarray, num_classes: int, label_smoothing: float = 0.0, dtype=np.float32
) -> np.ndarray:
    """The target distributions ``(1 - eps) * onehot(labels) + eps / K`` as an ``(N, K)`` array."""
    labels = np.asarray(labels)
    target = np.full((labels.shape[0], num_classes), label_smoothing / num_classes, dtype=dtype)
    target[np.arange(labels.shape[0]), labels] += 1.0 - label_smoothing
    return target


def soft_cross_entropy(logits: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Loss and logit gradient against target distributions ``target (N, K)`` (rows sum to 1).

    ``loss = -(1/N) * sum_n sum_k t[n, k] * log p[n, k]`` and ``dloss/dz = (p - t) / N``.
    """
    if logits.ndim != 2 or np.shape(target) != logits.shape:
        raise ValueError(
            f"soft_cross_entropy: logits must be (N, K) and target the same shape, got logits "
            f"{logits.shape} and target {np.shape(target)}"
        )
    n = logits.shape[0]
    logp = log_softmax(logits)
    loss = float(-(target * logp).sum(axis=1).mean()) if n else 0.0
    dlogits = (np.exp(logp) - target.astype(logp.dtype, copy=False)) / logits.dtype.type(max(n, 1))
    return loss, dlogits
