"""Evaluation numbers against confusion matrices and metrics worked out by hand."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from cnnlab.errors import DataError
from cnnlab.runs import TEST_METRICS, RunDir
from cnnlab.runs.evaluate import evaluate_predictions, evaluate_run, evaluate_split, map_labels

# Eight images of three classes. True and predicted classes:
LABELS = [0, 0, 0, 1, 1, 2, 2, 2]
PREDICTED = [0, 1, 0, 1, 1, 2, 0, 2]
# By hand: rows are true classes, columns predicted ones.
#   class 0: predicted 0 twice, 1 once        -> [2, 1, 0]
#   class 1: predicted 1 twice                -> [0, 2, 0]
#   class 2: predicted 2 twice, 0 once        -> [1, 0, 2]
CONFUSION = [[2, 1, 0], [0, 2, 0], [1, 0, 2]]
# precision = diagonal / column sum; recall = diagonal / row sum; F1 = 2PR/(P+R)
PRECISION = [2 / 3, 2 / 3, 2 / 2]
RECALL = [2 / 3, 2 / 2, 2 / 3]
F1 = [2 / 3, 2 * (2 / 3) / (2 / 3 + 1), 2 * (2 / 3) / (1 + 2 / 3)]
CLASSES = ["cat", "dog", "fox"]


def _probabilities(p_true: list[float]) -> np.ndarray:
    """Rows whose arg-max is PREDICTED and whose probability of the true class is ``p_true``."""
    rows = []
    for y, yhat, p in zip(LABELS, PREDICTED, p_true, strict=True):
        row = np.zeros(3)
        if y == yhat:
            assert p > 1 - p
            row[y] = p
            row[(y + 1) % 3] = 1 - p
        else:
            row[y] = p
            row[yhat] = 1 - p
            assert 1 - p > p
        rows.append(row)
    return np.array(rows)


P_TRUE = [0.9, 0.2, 0.6, 0.7, 0.95, 0.8, 0.1, 0.55]


def test_report_matches_hand_computed_metrics():
    report = evaluate_predictions(np.array(LABELS), _probabilities(P_TRUE), CLASSES)
    assert report["confusion"] == CONFUSION
    assert report["accuracy"] == pytest.approx(6 / 8, abs=0, rel=1e-15)
    assert report["num_samples"] == 8
    for i, name in enumerate(CLASSES):
        m = report["per_class"][name]
        assert m["precision"] == pytest.approx(PRECISION[i], rel=1e-15)
        assert m["recall"] == pytest.approx(RECALL[i], rel=1e-15)
        assert m["f1"] == pytest.approx(F1[i], rel=1e-15)
        assert m["support"] == LABELS.count(i)
    loss = sum(-math.log(p) for p in P_TRUE) / len(P_TRUE)
    assert report["loss"] == pytest.approx(loss, rel=1e-14)


def test_loss_is_finite_when_the_true_class_has_probability_zero():
    proba = np.array([[1.0, 0.0], [0.5, 0.5]])
    report = evaluate_predictions(np.array([1, 0]), proba, ["a", "b"])
    assert report["loss"] == pytest.approx((-math.log(1e-12) - math.log(0.5)) / 2)


def test_a_tie_goes_to_the_first_class():
    report = evaluate_predictions(np.array([1]), np.array([[0.5, 0.5]]), ["a", "b"])
    assert report["confusion"] == [[0, 0], [1, 0]]


@pytest.mark.parametrize(
    ("labels", "proba", "match"),
    [
        ([0, 1], np.full((3, 2), 0.5), r"shape \(3, 2\).*\(2, 2\)"),
        ([0, 1], np.full((2, 3), 1 / 3), r"shape \(2, 3\).*\(2, 2\)"),
        ([0, 2], np.full((2, 2), 0.5), r"\[0, 2\)"),
    ],
)
def test_bad_shapes_and_labels_are_named(labels, proba, match):
    with pytest.raises(ValueError, match=match):
        evaluate_predictions(np.array(labels), proba, ["a", "b"])


def test_labels_are_mapped_to_the_run_classes_by_name():
    # The data's folders sort as dog, cat; the model was trained with cat = 0, dog = 1.
    mapped = map_labels(np.array([0, 1, 1, 0]), ["dog", "cat"], ["cat", "dog"])
    assert mapped.tolist() == [1, 0, 0, 1]
    # a subset of the classes is fine
    assert map_labels(np.array([0, 0]), ["dog"], ["cat", "dog"]).tolist() == [1, 1]
    with pytest.raises(DataError, match=r"\['fox'\].*\['cat', 'dog'\]"):
        map_labels(np.array([0]), ["fox"], ["cat", "dog"])


class FixedPredictor:
    """Answers each image with the probabilities stored under its first pixel value."""

    backend = "numpy"

    def __init__(self, classes: list[str], table: dict[int, list[float]], image_size: int = 4):
        self.classes = classes
        self.table = table
        self.image_size = image_size

    def predict_proba(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        return np.array([self.table[int(im[0, 0, 0])] for im in images])


def _split(ids: list[int], labels: list[int], size: int = 4) -> SimpleNamespace:
    images = np.zeros((len(ids), size, size, 3), dtype=np.uint8)
    images[:, 0, 0, 0] = ids
    return SimpleNamespace(
        images=images, labels=np.array(labels, dtype=np.int64), paths=[f"img{i}.png" for i in ids]
    )


def _run(tmp_path, classes=("cat", "dog")) -> RunDir:
    return RunDir.create(
        tmp_path / "run",
        {"backend": "numpy", "model": "simple", "image_size": 4, "classes": list(classes), "data": None},
    )


def test_evaluate_run_maps_classes_and_writes_test_metrics(tmp_path):
    run = _run(tmp_path)
    # The data lists its classes as dog, cat: label 0 here is "dog".
    table = {1: [0.2, 0.8], 2: [0.7, 0.3], 3: [0.4, 0.6], 9: [0.5, 0.5]}
    dataset = SimpleNamespace(
        root=None,
        classes=["dog", "cat"],
        image_size=4,
        train=_split([9], [0]),
        test=_split([1, 2, 3], [0, 1, 1]),
    )
    result = evaluate_run(run, dataset, predictor=FixedPredictor(["cat", "dog"], table), write=True)
    # true classes in the run's indices: dog=1, cat=0, cat=0; predicted: dog, cat, dog
    assert result.labels.tolist() == [1, 0, 0]
    assert result.predictions.tolist() == [1, 0, 1]
    assert result.report["confusion"] == [[1, 1], [0, 1]]
    assert result.report["accuracy"] == pytest.approx(2 / 3)
    assert result.report["split"] == "test"
    assert result.paths == ["img1.png", "img2.png", "img3.png"]
    saved = json.loads((run / TEST_METRICS).read_text())
    assert saved["confusion"] == [[1, 1], [0, 1]]
    assert run.test_metrics == saved

    both = evaluate_run(
        run, dataset, split="all", predictor=FixedPredictor(["cat", "dog"], table), write=False
    )
    assert both.labels.tolist() == [1, 1, 0, 0]
    assert both.report["num_samples"] == 4


def test_evaluate_run_on_other_data_keeps_the_run_test_metrics(tmp_path):
    run = _run(tmp_path)
    dataset = SimpleNamespace(
        root=tmp_path, classes=["cat", "dog"], image_size=4, train=_split([1], [0]), test=_split([1], [0])
    )
    predictor = FixedPredictor(["cat", "dog"], {1: [0.9, 0.1]})
    # A dataset passed in without write=True is not the run's own data: nothing is written.
    evaluate_run(run, dataset, predictor=predictor)
    assert not (run / TEST_METRICS).exists()


def test_evaluate_split_checks_image_size():
    predictor = FixedPredictor(["cat", "dog"], {0: [1.0, 0.0]}, image_size=8)
    split = _split([0], [0], size=4)
    with pytest.raises(DataError, match="4x4 but the model takes 8x8"):
        evaluate_split(predictor, split.images, split.labels, split.paths, ["cat", "dog"])
    with pytest.raises(DataError, match="no images"):
        evaluate_split(predictor, np.zeros((0, 8, 8, 3), np.uint8), np.zeros(0, np.int64), [], ["cat", "dog"])


def test_unknown_split_is_refused(tmp_path):
    run = _run(tmp_path)
    with pytest.raises(DataError, match="unknown split 'val'"):
        evaluate_run(run, SimpleNamespace(), split="val", predictor=object())
