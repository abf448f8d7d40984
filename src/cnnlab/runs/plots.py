"""The pictures of a run: learning curves, confusion matrix, a grid of test predictions.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no window, no global state), saved as
PNG and written atomically. Each ``plot_*`` function returns the PNG bytes it wrote.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np

from cnnlab.rundir import atomic_write_bytes

TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#ff7f0e"
WRONG_COLOR = "#d62728"
RIGHT_COLOR = "#2ca02c"


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike | None) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    data = buf.getvalue()
    if path is not None:
        atomic_write_bytes(path, data)
    return data


def _series(rows: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """``(epochs, values)`` of the rows where ``key`` has a finite value."""
    xs, ys = [], []
    for r in rows:
        v = r.get(key)
        if r.get("epoch") is not None and v is not None and math.isfinite(v):
            xs.append(r["epoch"])
            ys.append(v)
    return xs, ys


def plot_curves(
    rows: Sequence[dict[str, Any]],
    path: str | os.PathLike | None = None,
    title: str | None = None,
    note: str | None = None,
) -> bytes:
    """Loss per epoch (the lab's plot) and accuracy per epoch, train vs validation.

    ``rows``: the rows of ``metrics.csv`` (``RunDir.metrics()``); validation lines are drawn only where
    the run has a validation split. ``note``: a small line under the plots (how the numbers were measured).
    """
    fig = _figure(10, 4)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for ax, key, label in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
        for split, color, name in (("train", TRAIN_COLOR, "train"), ("val", VAL_COLOR, "validation")):
            xs, ys = _series(rows, f"{split}_{key}")
            if xs:
                ax.plot(xs, ys, color=color, marker="o" if len(xs) <= 30 else None, markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend()
            ax.xaxis.get_major_locator().set_params(integer=True)
        else:
            ax.text(0.5, 0.5, "no epochs recorded", ha="center", va="center", transform=ax.transAxes)
    ax_loss.set_title("loss per epoch")
    ax_acc.set_title("accuracy per epoch")
    if any(_series(rows, "train_acc")[1] + _series(rows, "val_acc")[1]):
        ax_acc.set_ylim(0, 1.02)
    if title:
        fig.suptitle(title)
    if note:  # wrapped to the figure's width (about 150 characters at 8 pt on 10 inches)
        fig.supxlabel(textwrap.fill(note, 150), fontsize=8, color="#555555")
    return _save(fig, path)


def plot_confusion(
    confusion: np.ndarray | list[list[int]],
    classes: Sequence[str],
    path: str | os.PathLike | None = None,
    title: str = "confusion matrix (test)",
) -> bytes:
    """The confusion matrix ``C[true, predicted]`` with counts and row percentages (recall) in each cell."""
    cm = np.asarray(confusion, dtype=np.int64)
    k = len(classes)
    if cm.shape != (k, k):
        raise ValueError(f"confusion matrix has shape {cm.shape} but there are {k} classes")
    totals = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, totals, out=np.zeros(cm.shape, dtype=np.float64), where=totals > 0)
    side = 1.8 + 0.9 * k
    fig = _figure(side + 1.2, side)
    ax = fig.subplots()
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, label="share of the true class")
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{cm[i, j]}\n{100 * share[i, j]:.1f}%",
                ha="center",
                va="center",
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(k), labels=list(classes))
    ax.set_yticks(range(k), labels=list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _save(fig, path)


def choose_examples(labels: np.ndarray, predictions: np.ndarray, n: int = 24, seed: int = 0) -> np.ndarray:
    """Indices of up to ``n`` examples for the grid, in increasing order.

    Up to half are mistakes (where there are any), the rest correct ones, each drawn at random with
    ``seed`` so the same run always shows the same images.
    """
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    rng = np.random.default_rng(seed)
    wrong = np.flatnonzero(labels != predictions)
    right = np.flatnonzero(labels == predictions)
    n = min(n, labels.shape[0])
    n_wrong = min(wrong.size, max(n // 2, n - right.size))
    chosen = [rng.choice(wrong, n_wrong, replace=False), rng.choice(right, n - n_wrong, replace=False)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def plot_predictions(
    images: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    classes: Sequence[str],
    path: str | os.PathLike | None = None,
    n: int = 24,
    seed: int = 0,
) -> bytes:
    """A grid of test images titled with the true and predicted class; mistakes in red with a red frame.

    ``images (N, H, W, C)`` uint8, ``labels (N,)``, ``probabilities (N, K)``; shows
    :func:`choose_examples` of them.
    """
    images = np.asarray(images)
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities)
    if images.ndim != 4 or images.shape[0] != labels.shape[0] or probabilities.shape[0] != labels.shape[0]:
        raise ValueError(
            f"need images (N, H, W, C), labels (N,) and probabilities (N, K); got {images.shape}, "
            f"{labels.shape} and {probabilities.shape}"
        )
    predictions = np.argmax(probabilities, axis=1)
    chosen = choose_examples(labels, predictions, n, seed)
    cols = min(8, max(1, len(chosen)))
    rows = max(1, math.ceil(len(chosen) / cols))
    fig = _figure(1.6 * cols, 1.85 * rows + 0.5)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, i in zip(axes, chosen, strict=False):
        image = images[i]
        ax.imshow(
            image[..., 0] if image.shape[-1] == 1 else image,
            cmap="gray" if image.shape[-1] == 1 else None,
            interpolation="nearest",
        )
        ok = predictions[i] == labels[i]
        color = RIGHT_COLOR if ok else WRONG_COLOR
        ax.set_title(
            f"true: {classes[labels[i]]}\npred: {classes[predictions[i]]} "
            f"{probabilities[i, predictions[i]]:.2f}",
            fontsize=8,
            color="black" if ok else color,
        )
        if not ok:
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor(WRONG_COLOR)
                spine.set_linewidth(3)
    n_wrong = int((predictions != labels).sum())
    shown_wrong = int((predictions[chosen] != labels[chosen]).sum())
    fig.suptitle(
        f"{len(chosen)} of {labels.shape[0]} test images, "
        f"with {shown_wrong} of the {n_wrong} mistakes (in red)",
        fontsize=10,
    )
    return _save(fig, path)
