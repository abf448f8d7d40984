"""Softmax cross-entropy, numerically stable, with label smoothing and the fused gradient.

For logits ``z (N, K)`` and integer labels ``y (N,)``:

- ``log p = z - max(z) - log(sum(exp(z - max(z))))`` (log-sum-exp; never ``log(softmax)``);
- the target is ``t = (1 - eps) * onehot(y) + eps / K`` (``eps`` = ``label_smoothing``, as in
  ``torch.nn.CrossEntropyLoss(label_smoothing=eps)``);
- ``loss = -(1/N) * sum_n sum_k t[n, k] * log p[n, k]``;
- ``dloss/dz = (p - t) / N`` — softmax and cross-entropy differentiated together. This is already the
  gradient with respect to the *logits*: multiplying it by the softmax's derivative again is the bug of
  the lab's exercise 8 (see :mod:`cnnlab.nn.lab_exercise8`).
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
    target = np.full_like(logp, label_smoothing / k)
    target[rows, labels] += 1.0 - label_smoothing
    dlogits = (np.exp(logp) - target) / logits.dtype.type(n)
    return loss, dlogits
