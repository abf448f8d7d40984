"""Part 2 (10 marks): the student's PyTorch ``CNNClassifier``, built, checked and trained in the sandbox.

The contract: ``CNNClassifier(input_channels, image_size, num_classes)``, a ``torch.nn.Module`` whose
``forward`` maps ``(N, C, H, W)`` float inputs to logits ``(N, num_classes)``: the lab's three
Conv(3x3, pad 1) -> ReLU -> MaxPool(2) blocks (16, 32, 64 filters), Linear(64 * (H/8)^2 -> 128), ReLU,
Linear(128 -> num_classes); 548,258 parameters at 64x64x3 with 2 classes.

==================  =====  ==============================================================================
check               marks  passes when
==================  =====  ==============================================================================
``parameters``      0      it has the lab's number of trainable parameters (548,258 at 64x64x3)
``logits``          0      ``forward`` returns logits of shape ``(N, num_classes)``
``forward``         0      with weights the grader chose, its logits equal cnnlab's NumPy network's
                           (``cnnlab.nn``, float64): a missing ReLU or a wrong flatten is caught here
``accuracy``        10     trained in the sandbox with the lab's recipe (50 epochs, Adam 1e-3, batch 32,
                           seed 2023, one thread) on ``--data``'s training images, its predictions of the
                           test images score inside the lab's band, 60% < accuracy < 68%
==================  =====  ==============================================================================

The three checks of the model's structure carry no marks of their own: the lab marks the band, and the
band is only run for the lab's network (when they fail, ``accuracy`` is not run and says why). The
``full`` scheme also builds the model at a hidden size (a 1-channel 32x32 input with 3 classes), so
hard-coded 3 channels or ``64 * 8 * 8`` lose the marks.

The sandbox gets the training images and labels and the test images *without* their labels; the grader
scores the returned predictions. Nothing the student's code prints or computes about its accuracy is
used. Without ``--data`` the accuracy check is "not run: give --data" and not available: the total reads
N / 90. Without PyTorch where the grader runs, all of Part 2 is not available.
"""

from __future__ import annotations

import dataclasses
import functools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.grading.hashing import CheckFailed
from cnnlab.grading.judge import GENERAL_REASONS, compare_array
from cnnlab.grading.lab import describe_value
from cnnlab.grading.report import CheckResult
from cnnlab.grading.sandbox import Answer, Request

__all__ = ["BAND", "PART", "Part2Data", "judge_part2", "load_part2_data", "requests", "torch_available"]

PART = "part 2"
EXERCISE = "CNNClassifier"
BAND = (0.60, 0.68)
LAB_SHAPE = (3, 64, 2)  # input_channels, image_size, num_classes
HIDDEN_SHAPE = (1, 32, 3)
MAX_DATA = 28 * 2**20  # bytes of images in the training request (the protocol's limit is 32 MiB)
RECIPE = {"seed": 2023, "epochs": 50, "batch_size": 32, "lr": 1e-3}  # cnnlab.recipes.RECIPES["lab"]
HINTS = {
    "parameters": "Three Conv2d(3x3, padding=1) layers (input_channels -> 16 -> 32 -> 64), each followed by "
    "ReLU and MaxPool2d(2, 2), then Linear(64 * (image_size // 8) ** 2, 128) and Linear(128, num_classes): "
    "use the constructor's arguments, not fixed numbers.",
    "logits": "forward must return the last Linear layer's output, one row of num_classes logits per image.",
    "forward": "Apply ReLU after every convolution and after the first Linear layer, pool after each ReLU, "
    "and flatten with x.view(x.size(0), -1) (or torch.flatten(x, 1)) before the Linear layers.",
    "accuracy": "The lab's recipe trains your model as it is: check the structure first; an accuracy "
    "outside 60-68% with a correct structure usually means a different architecture.",
}


@dataclass(frozen=True)
class Part2Data:
    """The images of ``--data`` at 64x64: training images and labels, test images and (kept here) labels."""

    train_images: np.ndarray  # (N, 64, 64, 3) uint8
    train_labels: np.ndarray  # (N,) int64
    test_images: np.ndarray  # (M, 64, 64, 3) uint8
    test_labels: np.ndarray  # (M,) int64, never sent to the sandbox
    classes: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    #: the order the test images are sent in: a secret permutation, so that their order (the dataset's
    #: is class by class) says nothing of their labels; the predictions come back in this order
    order: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.order is None:
            rng = np.random.default_rng(secrets.randbits(128))
            object.__setattr__(self, "order", rng.permutation(self.test_labels.size))


def load_part2_data(root: str | Path) -> Part2Data:
    """Read the Kaggle layout (``train/{cats,dogs}``, ``test/{cats,dogs}``) at 64x64 RGB, as cnnlab trains.

    Raises :class:`cnnlab.errors.DataError` (one line) when the folder is not such a dataset; unreadable
    images are skipped and listed in ``skipped``.
    """
    from cnnlab.data import load_dataset
    from cnnlab.errors import DataError

    missing = [split for split in ("train", "test") if not Path(root, split).is_dir()]
    if missing:
        raise DataError(
            f"{root}: Part 2 needs the Kaggle layout, {root}/train/<class>/* and {root}/test/<class>/*; "
            f"there is no {' and no '.join(missing)} folder"
        )
    ds = load_dataset(root, image_size=LAB_SHAPE[1])
    # the images travel to the sandbox in one message (base64, 4/3 of their bytes)
    size = (ds.train.images.nbytes + ds.test.images.nbytes) * 4 // 3
    if size > MAX_DATA:
        most = MAX_DATA * 3 // 4 // (LAB_SHAPE[1] ** 2 * 3)
        raise DataError(
            f"{root}: {len(ds.train) + len(ds.test)} images; Part 2 sends at most {most:,} to the sandbox "
            "(the lab's photos are 557 + 140)"
        )
    if ds.num_classes != LAB_SHAPE[2]:
        raise DataError(f"{root}: Part 2 needs 2 classes (cats, dogs), found {ds.num_classes}")
    return Part2Data(
        ds.train.images,
        ds.train.labels,
        ds.test.images,
        ds.test.labels,
        tuple(ds.classes),
        tuple(f"{p}: {why}" for p, why in ds.skipped),
    )


#: Part 2's reason where PyTorch is not installed (the sandbox uses the grader's installation).
NO_TORCH = "not run: PyTorch is not installed where the grader runs"


def torch_available() -> bool:
    """Whether PyTorch is installed where the grader runs (the sandbox uses the same installation)."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


# ------------------------------------------------------------------------------------------ reference


@dataclass(frozen=True)
class _Case:
    shape: tuple[int, int, int]
    parameters: int
    x: np.ndarray  # (N, C, H, W) float64
    weights: tuple[np.ndarray, ...]  # in PyTorch's layouts
    logits: np.ndarray  # (N, K): cnnlab.nn's forward pass with those weights

    @property
    def label(self) -> str:
        c, s, k = self.shape
        return f"CNNClassifier({c}, {s}, {k})"


def _make_case(shape: tuple[int, int, int], seed: int) -> _Case:
    from cnnlab.nn import build_model
    from cnnlab.nn.convert import to_torch_layout

    channels, size, classes = shape
    model = build_model("cnn", size, classes, dtype=np.float64, seed=seed, init="torch", in_channels=channels)
    model.eval()
    rs = np.random.RandomState([seed, 2])
    x = rs.randn(3, size, size, channels)
    logits = model.forward(x)
    weights = tuple(to_torch_layout(model.state_dict()).values())
    return _Case(shape, model.num_params(), x.transpose(0, 3, 1, 2).copy(), weights, logits)


@functools.lru_cache(maxsize=8)
def cases(scheme: str, seed: int | None) -> tuple[_Case, ...]:
    """The lab's shape (3, 64, 2), and (``full``) a hidden one; the weights drawn from ``seed``."""
    if scheme == "lab":
        return (_make_case(LAB_SHAPE, 2023),)
    if scheme != "full" or seed is None:
        raise ValueError(f"unknown scheme {scheme!r} or no seed")
    return (_make_case(LAB_SHAPE, seed), _make_case(HIDDEN_SHAPE, seed + 1))


# ------------------------------------------------------------------------------------------- requests


def requests(scheme: str, seed: int | None, data: Part2Data | None) -> list[Request]:
    """Per case: the parameter count, the logits of a batch, the forward pass with given weights; then,
    with ``data``, the lab recipe's training (run only when the structure checks pass on the lab's shape)."""
    chosen = cases(scheme, seed)
    out = []
    for case in chosen:
        ctor = case.shape
        out.append(Request(EXERCISE, (ctor,), group=f"p2.params.{ctor}", helper="part2.parameters"))
        x32 = case.x.astype(np.float32)
        out.append(Request(EXERCISE, (ctor, x32), group=f"p2.logits.{ctor}", helper="part2.logits"))
        args = (ctor, list(case.weights), case.x)
        out.append(Request(EXERCISE, args, group=f"p2.forward.{ctor}", helper="part2.forward"))
    if data is not None:
        n = len(out)

        def make_args(answers: Sequence[Answer]) -> tuple[tuple, dict]:
            reasons = _structure_reasons(chosen, answers[-n:])  # the run's answers end with these
            if reasons:
                raise CheckFailed(f"the model is not the lab's CNNClassifier ({reasons[0]})")
            r = RECIPE
            args = (LAB_SHAPE, data.train_images, data.train_labels, data.test_images[data.order])
            return (*args, r["seed"], r["epochs"], r["batch_size"], r["lr"]), {}

        out.append(Request(EXERCISE, (), group="p2.train", helper="part2.train", make_args=make_args))
    return out


# -------------------------------------------------------------------------------------------- judging


def _failure(answer: Answer, case: _Case) -> str:
    general = answer.reason.startswith(GENERAL_REASONS)
    return answer.reason if general else f"{case.label}: {answer.reason or 'failed'}"


def _check_parameters(case: _Case, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CheckFailed(f"the parameter count is {describe_value(value)}")
    if value != case.parameters:
        raise CheckFailed(
            f"{case.label} has {value:,} trainable parameters; the lab's has {case.parameters:,}"
        )


def _check_logits(case: _Case, value: Any) -> None:
    n, k = case.x.shape[0], case.shape[2]
    if not isinstance(value, np.ndarray):
        raise CheckFailed(f"{case.label}: forward returned {describe_value(value)}")
    if value.shape != (n, k):
        raise CheckFailed(f"{case.label}: logits of shape {value.shape} for {n} images, expected ({n}, {k})")


def _check_forward(case: _Case, value: Any) -> None:
    """Eval- and train-mode logits with the grader's weights against cnnlab's network (float32 answers,
    from a ``forward`` that casts to float32, get float32's tolerance: 1e-4 relative)."""
    n, k = case.logits.shape
    if not isinstance(value, np.ndarray) or value.shape != (2, n, k):
        raise CheckFailed(
            f"{case.label}: forward returned {describe_value(value)}, expected logits ({n}, {k})"
        )
    for mode, got in zip(("eval", "train"), value, strict=True):
        what = f"{case.label} with the grader's weights, {mode} mode"
        if got.dtype == np.float32:
            scale = float(np.max(np.abs(case.logits))) or 1.0
            if not np.allclose(got.astype(np.float64), case.logits, rtol=1e-4, atol=1e-4 * scale):
                raise CheckFailed(f"{what}: logits: wrong values")
            continue
        try:
            compare_array(got, [case.logits], "logits", relative=True)
        except CheckFailed as exc:
            raise CheckFailed(f"{what}: {exc}") from None


_STRUCTURE = (("parameters", _check_parameters), ("logits", _check_logits), ("forward", _check_forward))


def _structure_results(chosen: Sequence[_Case], answers: Sequence[Answer]) -> list[tuple[str, str]]:
    """``(check, reason)`` of the three structure checks ("" when passed), each at its first failing case."""
    out = []
    for k, (name, check) in enumerate(_STRUCTURE):
        reason = ""
        for i, case in enumerate(chosen):
            answer = answers[3 * i + k]
            if not answer.ok:
                reason = _failure(answer, case)
                break
            try:
                check(case, answer.value)
            except CheckFailed as exc:
                reason = str(exc)
                break
            except Exception as exc:
                reason = f"{case.label}: the answer could not be compared ({type(exc).__name__})"
                break
        out.append((name, reason))
    return out


def _structure_reasons(chosen: Sequence[_Case], answers: Sequence[Answer]) -> list[str]:
    return [f"{name}: {reason}" for name, reason in _structure_results(chosen, answers) if reason]


def _result(check: str, marks: int, reason: str, available: bool = True) -> CheckResult:
    passed = not reason
    hint = "" if passed or not available else HINTS[check]
    return CheckResult(
        EXERCISE, check, marks if passed else 0, marks, passed, reason, hint, part=PART, available=available
    )


def judge_part2(
    scheme: str, seed: int | None, answers: Sequence[Answer], data: Part2Data | None
) -> list[CheckResult]:
    """The four checks from the answers to :func:`requests` (``data`` as given to it)."""
    chosen = cases(scheme, seed)
    n = 3 * len(chosen)
    if len(answers) != n + (data is not None):
        raise ValueError(f"judge_part2: {len(answers)} answers for {n + (data is not None)} requests")
    results = [_result(name, 0, reason) for name, reason in _structure_results(chosen, answers[:n])]
    if data is None:
        results.append(_result("accuracy", 10, "not run: give --data (the Kaggle photos) to train it", False))
        return results
    reason, detail = _accuracy_reason(answers[n], data)
    results.append(dataclasses.replace(_result("accuracy", 10, reason), detail=detail))
    return results


def unavailable(reason: str) -> list[CheckResult]:
    """All four checks not available (no PyTorch where the grader runs), with ``reason``."""
    return [_result(name, 0, reason, False) for name, _ in _STRUCTURE] + [
        _result("accuracy", 10, reason, False)
    ]


def accuracy(predictions: Any, labels: np.ndarray) -> float:
    """Fraction of ``predictions`` equal to ``labels``; :class:`CheckFailed` unless ``(M,)`` integers."""
    if not isinstance(predictions, np.ndarray) or predictions.shape != labels.shape:
        raise CheckFailed(f"the predictions are {describe_value(predictions)}, expected {labels.shape}")
    if predictions.dtype.kind not in "iu":
        raise CheckFailed(f"the predictions are not class numbers (dtype {predictions.dtype})")
    return float(np.mean(predictions == labels))


def _accuracy_reason(answer: Answer, data: Part2Data) -> tuple[str, str]:
    """``(reason, detail)``: why the band was missed ("" when it was met) and the accuracy measured."""
    if not answer.ok:
        reason = answer.reason or "failed"
        return (reason if reason.startswith("not run:") else f"training with the lab's recipe: {reason}"), ""
    labels = data.test_labels[data.order]  # in the order the images were sent
    try:
        acc = accuracy(answer.value, labels)
    except CheckFailed as exc:
        return str(exc), ""
    right = int(np.sum(answer.value == labels))
    detail = f"test accuracy {100 * acc:.2f}% ({right} of {data.test_labels.size})"
    low, high = BAND
    if not low < acc < high:
        band = f"{100 * low:.0f}% < accuracy < {100 * high:.0f}%"
        return f"{detail} after the lab's recipe, outside the lab's band ({band})", detail
    return "", detail
