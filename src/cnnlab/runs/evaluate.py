"""Evaluate a run's model on a dataset split: accuracy, per-class precision/recall/F1, confusion matrix.

``evaluate_run(run)`` loads the run's predictor (``cnnlab.runs.predictor.load_predictor``) and the
run's own data at the run's image size, predicts the test split, and writes ``test_metrics.json``.
The numbers are :func:`cnnlab.metrics.classification_report` of the arg-max predictions, plus the mean
cross-entropy of the predicted probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from cnnlab.errors import DataError
from cnnlab.metrics import classification_report
from cnnlab.rundir import TEST_METRICS, RunDir, write_json

#: Probabilities below this are clipped before the log in the test loss, so one confident mistake
#: gives a large but finite loss (``-log(1e-12) ~ 27.6``).
LOG_FLOOR = 1e-12

SPLITS = ("test", "train", "all")


class _Split(Protocol):
    images: np.ndarray
    labels: np.ndarray
    paths: list[str]


class _Dataset(Protocol):
    root: Path | None
    classes: list[str]
    train: _Split
    test: _Split
    image_size: int


@dataclass
class Evaluation:
    """The predictions of a model on one split, and the report made from them.

    ``images (N, H, W, C)`` uint8; ``labels (N,)`` int64 indices into ``classes`` (the run's classes);
    ``probabilities (N, K)`` float64, rows summing to 1; ``report`` is what ``test_metrics.json`` holds.
    """

    classes: list[str]
    images: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray
    paths: list[str]
    report: dict[str, Any]

    @property
    def predictions(self) -> np.ndarray:
        """``(N,)`` int64: the most probable class of each image (the first one on a tie)."""
        return np.argmax(self.probabilities, axis=1).astype(np.int64)


def run_image_size(run: RunDir) -> int:
    """The image side the run was trained at (its config, else the architecture's default)."""
    from cnnlab.architectures import DEFAULT_IMAGE_SIZE

    cfg = run.config
    size = cfg.get("image_size") or DEFAULT_IMAGE_SIZE.get(cfg.get("model", ""), None)
    if size is None:
        raise DataError(f"{run.path}: config.json gives no image_size and no known model")
    return int(size)


def map_labels(labels: np.ndarray, dataset_classes: list[str], run_classes: list[str]) -> np.ndarray:
    """Re-index ``labels`` of a dataset with ``dataset_classes`` into the run's ``run_classes`` by name.

    A dataset whose classes are in another order still evaluates correctly; one with a class the model
    never saw raises :class:`DataError`.
    """
    unknown = [c for c in dataset_classes if c not in run_classes]
    if unknown:
        raise DataError(
            f"the data has class(es) {unknown} that the model does not know; it was trained on {run_classes}"
        )
    table = np.array([run_classes.index(c) for c in dataset_classes], dtype=np.int64)
    return table[np.asarray(labels, dtype=np.int64)]


def evaluate_predictions(labels: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """The report of probabilities ``(N, K)`` against true ``labels (N,)``.

    ``classification_report(labels, argmax(probabilities))`` plus ``loss`` =
    ``mean_i -log(max(p[i, labels[i]], 1e-12))``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n, k = labels.shape[0], len(classes)
    if probabilities.shape != (n, k):
        raise ValueError(
            f"probabilities have shape {probabilities.shape} but {n} labels of {k} classes need ({n}, {k})"
        )
    if n and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"labels must lie in [0, {k}); got [{labels.min()}, {labels.max()}]")
    report = classification_report(labels, np.argmax(probabilities, axis=1), classes)
    p_true = probabilities[np.arange(n), labels]
    report["loss"] = float(-np.log(np.maximum(p_true, LOG_FLOOR)).mean()) if n else None
    return report


def evaluate_split(
    predictor: Any,
    images: np.ndarray,
    labels: np.ndarray,
    paths: list[str],
    classes: list[str],
    batch_size: int = 256,
) -> Evaluation:
    """Predict ``images (N, H, W, C)`` uint8 with ``predictor`` and score them against ``labels (N,)``."""
    if images.ndim != 4:
        raise DataError(f"expected images (N, H, W, C); got shape {images.shape}")
    if images.shape[0] == 0:
        raise DataError("the split to evaluate holds no images")
    size = getattr(predictor, "image_size", None)
    if size is not None and images.shape[1:3] != (size, size):
        raise DataError(f"images are {images.shape[1]}x{images.shape[2]} but the model takes {size}x{size}")
    proba = np.asarray(predictor.predict_proba(images, batch_size=batch_size), dtype=np.float64)
    report = evaluate_predictions(labels, proba, classes)
    return Evaluation(classes, images, np.asarray(labels, dtype=np.int64), proba, list(paths), report)


def load_run_data(run: RunDir, data: str | Path | None = None) -> _Dataset:
    """The dataset of ``run`` (``data`` overrides the run's own folder), decoded at the run's image size.

    The test split is the one the trainer held out: ``load_dataset`` splits deterministically
    (``config.json``'s ``split`` {``test_fraction``, ``seed``} when recorded; else ``load_dataset``'s
    defaults, which both trainers use, so the test split never depends on the training seed).
    """
    from cnnlab.data import load_dataset

    cfg = run.config
    root = data if data is not None else cfg.get("data")
    if root is not None and not Path(root).is_dir():
        raise DataError(f"data directory {root} does not exist")
    kwargs: dict[str, Any] = {}
    split = cfg.get("split") or {}
    for key in ("test_fraction", "seed", "grayscale"):
        if key in split:
            kwargs[key] = split[key]
    return load_dataset(root, image_size=run_image_size(run), **kwargs)


def evaluate_run(
    run: RunDir | str | Path,
    dataset: _Dataset | None = None,
    *,
    data: str | Path | None = None,
    split: str = "test",
    checkpoint: str = "best",
    predictor: Any = None,
    write: bool | None = None,
) -> Evaluation:
    """Evaluate the ``checkpoint`` of ``run`` on ``split`` (``"test"``, ``"train"`` or ``"all"``).

    ``dataset``: an already loaded dataset (else :func:`load_run_data` with ``data``). ``write``: save the
    report as ``test_metrics.json``; by default only for the run's own test split, so evaluating other
    data never replaces the run's test numbers.
    """
    from cnnlab.runs.predictor import load_predictor

    run = run if isinstance(run, RunDir) else RunDir.open(run)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    own_data = dataset is None and data is None
    if dataset is None:
        dataset = load_run_data(run, data)
    if predictor is None:
        predictor = load_predictor(run, checkpoint)
    classes = list(run.config.get("classes") or predictor.classes)
    parts = (
        [dataset.test]
        if split == "test"
        else [dataset.train]
        if split == "train"
        else [dataset.train, dataset.test]
    )
    images = np.concatenate([p.images for p in parts]) if len(parts) > 1 else parts[0].images
    labels = np.concatenate([p.labels for p in parts]) if len(parts) > 1 else parts[0].labels
    paths = [path for p in parts for path in p.paths]
    labels = map_labels(labels, list(dataset.classes), classes)
    result = evaluate_split(predictor, images, labels, paths, classes)
    result.report.update(
        split=split,
        checkpoint=checkpoint,
        data=str(data) if data is not None else run.config.get("data"),  # None: the built-in dataset
        backend=predictor.backend,
    )
    if write if write is not None else (own_data and split == "test"):
        write_json(run / TEST_METRICS, result.report)
    return result
