"""Exercise 8 (20 marks): the student's ``backward_propagation`` and ``update_parameters``, judged here.

The lab's contract is :mod:`cnnlab.nn.lab_exercise8`'s: ``parameters = {"W1", "b1", "W_fc", "b_fc"}``,
``backward_propagation(A_last, Y, caches) -> {"dW1", "db1", "dW_fc", "db_fc"}`` with one-hot ``Y`` and
``caches = (conv_cache, Z1, pool_cache, P1, F, W_fc)``, ``update_parameters(parameters, gradients,
learning_rate) -> parameters``. The grader builds ``A_last`` and ``caches`` with cnnlab's forward pass
(so the backward pass is graded alone) and sends them; the worker only calls the student's functions.

Checks (what the lab *meant*, not its defects: the lab's own hashes are of a loop that cannot learn, cost
10260.32 and 0% accuracy, see docs/lab-exercise8.md):

=============================  =====  =====================================================================
check                          marks  passes when
=============================  =====  =====================================================================
``backward_propagation/dW1``   4      each gradient equals cnnlab's gradient of the mean cross-entropy (a
``backward_propagation/db1``   3      test checks cnnlab's against centred differences); a missing key
``backward_propagation/dW_fc`` 4      costs that gradient's check only
``backward_propagation/db_fc`` 3
``update_parameters/update``   4      all four parameters equal ``W - learning_rate * dW``
``update_parameters/training`` 2      three steps of the student's ``update_parameters`` with cnnlab's
                                      gradients on one batch lower the cost at every step, by at least a
                                      quarter of what cnnlab's step from the same parameters does (the
                                      lab's ``==`` on W_fc still does: it costs the update check only)
=============================  =====  =====================================================================

Cases: the lab's (``lab`` scheme; the notebook's check cell): seed 2023, 8 images 16x16x3, the lab's
initialisation (``randn * 0.01``, zero biases), learning rate 0.01. The ``full`` scheme adds hidden cases
from the class's seed: a batch of one, a 12x12 one-channel input with 3 classes, weights and biases of
larger scale, other learning rates. A check fails at its first failing case.

Arrays are compared as the functions' are (:func:`cnnlab.grading.judge.compare_array`), except that the
tolerance follows each array's own scale (``atol = 1e-6 * max|expected|``): gradients of small weights
are small, and so would be a wrong term.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnlab.grading.hashing import CheckFailed
from cnnlab.grading.judge import GENERAL_REASONS, compare_array
from cnnlab.grading.lab import describe_value
from cnnlab.grading.report import CheckResult
from cnnlab.grading.sandbox import Answer, Request

__all__ = ["CHECKS", "MARKS", "PART", "Ex8Case", "ex8_cases", "judge_exercise8", "references", "requests"]

PART = "exercise 8"
LAB_SEED = 2023
STEPS = 3
TRAINING_LR = 0.5  # large enough that three steps on the lab's small weights move the cost clearly
#: a step must lower the cost by at least this fraction of what cnnlab's step from the same parameters does
TRAINING_SHARE = 0.25
PARAMETERS = ("W1", "b1", "W_fc", "b_fc")
GRADIENTS = ("dW1", "db1", "dW_fc", "db_fc")

#: ``(check, marks)`` in report order; the four gradient checks share the ``backward`` call.
CHECKS: tuple[tuple[str, int], ...] = (
    ("dW1", 4),
    ("db1", 3),
    ("dW_fc", 4),
    ("db_fc", 3),
    ("update", 4),
    ("training", 2),
)
MARKS = sum(m for _, m in CHECKS)
assert MARKS == 20

HINTS = {
    "gradients": "dZ2 = (A_last - Y) / m once (softmax and cross-entropy together: no extra p * (1 - p)); "
    "dW_fc = F.T @ dZ2, db_fc = sum over the batch (keepdims), dP1 = (dZ2 @ W_fc.T).reshape(P1.shape), "
    "dA1 = pool_backward(dP1, pool_cache, 'max'), dZ1 = dA1 * (Z1 > 0), then conv_backward(dZ1, conv_cache).",
    "update": "parameters[k] = parameters[k] - learning_rate * gradients['d' + k] for W1, b1, W_fc, b_fc "
    "(-=, not ==), and return the parameters.",
    "training": "Each step must lower the cost on the same batch: subtract the gradient (do not add it).",
}


@dataclass(frozen=True)
class Ex8Case:
    """One set of inputs: images ``X (m, H, W, C)``, one-hot ``Y (m, K)``, ``parameters``, a learning rate."""

    label: str
    X: np.ndarray
    Y: np.ndarray
    parameters: dict[str, np.ndarray] = field(compare=False)
    learning_rate: float
    hidden: bool = False


def _parameters(rs: np.random.RandomState, side: int, channels: int, k: int, scale: float, bias: float):
    n_fc = ((side + 4 - 3 + 1) // 2) ** 2 * 16
    return {
        "W1": scale * rs.randn(3, 3, channels, 16),
        "b1": bias * rs.randn(1, 1, 1, 16),
        "W_fc": scale * rs.randn(n_fc, k),
        "b_fc": bias * rs.randn(1, k),
    }


def _case(label: str, rs: np.random.RandomState, m: int, side: int, channels: int, k: int, **kw) -> Ex8Case:
    X = rs.randn(m, side, side, channels)
    Y = np.eye(k)[rs.randint(0, k, m)]
    params = _parameters(rs, side, channels, k, kw.pop("scale"), kw.pop("bias"))
    return Ex8Case(label, X, Y, params, kw.pop("learning_rate"), kw.pop("hidden", True))


def lab_case() -> Ex8Case:
    """The notebook's case: seed 2023, 8 images 16x16x3, 2 classes, the lab's initialisation, lr 0.01."""
    rs = np.random.RandomState(LAB_SEED)
    return _case("the lab's batch", rs, 8, 16, 3, 2, scale=0.01, bias=0.0, learning_rate=0.01, hidden=False)


@functools.lru_cache(maxsize=8)
def ex8_cases(scheme: str, seed: int | None) -> tuple[Ex8Case, ...]:
    """The lab's case, and (``full``) three hidden ones drawn from ``seed``."""
    cases = [lab_case()]
    if scheme == "full":
        if seed is None:
            raise ValueError("the full scheme needs a seed")

        def rs(k: int) -> np.random.RandomState:
            return np.random.RandomState([seed, 800 + k])

        r = rs(0)
        lr = float(r.uniform(0.05, 0.5))
        cases += [
            _case("a batch of one image", r, 1, 16, 3, 2, scale=0.3, bias=0.5, learning_rate=lr),
            _case(
                "3 classes, 12x12x1 images",
                rs(1),
                5,
                12,
                1,
                3,
                scale=0.2,
                bias=0.3,
                learning_rate=float(rs(2).uniform(0.05, 0.5)),
            ),
            _case("weights of scale 0.5", rs(3), 6, 16, 3, 2, scale=0.5, bias=1.0, learning_rate=0.1),
        ]
    elif scheme != "lab":
        raise ValueError(f"unknown scheme {scheme!r}; choose full or lab")
    return tuple(cases)


# ------------------------------------------------------------------------------------------ reference


def _reference():
    from cnnlab.nn import lab_exercise8

    return lab_exercise8


def forward(case_params: Mapping[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, tuple]:
    return _reference().forward_propagation(X, dict(case_params))


def gradients(params: Mapping[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
    A_last, caches = forward(params, X)
    return _reference().backward_propagation(A_last, Y, caches)


def cost(params: Mapping[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> float:
    A_last, _ = forward(params, X)
    return _reference().compute_cost(A_last, Y)


@dataclass(frozen=True)
class _Reference:
    """cnnlab's answers for one case: what the worker is sent, and what its answers are compared with."""

    A_last: np.ndarray
    caches: tuple
    gradients: dict[str, np.ndarray]
    updated: dict[str, np.ndarray]


@functools.lru_cache(maxsize=8)
def references(scheme: str, seed: int | None) -> tuple[_Reference, ...]:
    """cnnlab's forward pass, gradients and update for each case of :func:`ex8_cases`, computed once."""
    out = []
    for case in ex8_cases(scheme, seed):
        A_last, caches = forward(case.parameters, case.X)
        g = _reference().backward_propagation(A_last, case.Y, caches)
        updated = _reference().update_parameters(case.parameters, g, case.learning_rate)
        out.append(_Reference(A_last, caches, g, updated))
    return tuple(out)


# ------------------------------------------------------------------------------------------- requests


def _as_parameters(value: Any, like: Mapping[str, np.ndarray], what: str) -> dict[str, np.ndarray]:
    """``value`` as the four parameters of ``like``'s shapes, or :class:`CheckFailed` saying why not."""
    if value is None:
        raise CheckFailed(f"{what} returned None (did it forget to return the parameters?)")
    if not isinstance(value, Mapping):
        raise CheckFailed(f"{what} returned {describe_value(value)}, expected a dict of parameters")
    out = {}
    for key in PARAMETERS:
        if key not in value:
            raise CheckFailed(f"{what} returned no {key!r}")
        arr = np.asarray(value[key]) if isinstance(value[key], np.ndarray | float | int) else None
        if arr is None or arr.dtype.kind not in "biuf" or arr.shape != like[key].shape:
            raise CheckFailed(f"{what}: {key} is {describe_value(value[key])}, expected {like[key].shape}")
        if not np.isfinite(arr).all():
            raise CheckFailed(f"{what}: {key} holds NaN or infinity")
        out[key] = arr.astype(np.float64)
    return out


def requests(scheme: str, seed: int | None) -> list[Request]:
    """The worker's calls: ``backward_propagation`` per case, ``update_parameters`` per case, then the
    :data:`STEPS` chained training steps on the lab's case (each on the parameters the last returned)."""
    cases, refs = ex8_cases(scheme, seed), references(scheme, seed)
    out = []
    for case, ref in zip(cases, refs, strict=True):
        out.append(Request("backward_propagation", (ref.A_last, case.Y, ref.caches), group="ex8.backward"))
    for case, ref in zip(cases, refs, strict=True):
        args = (case.parameters, ref.gradients, case.learning_rate)
        out.append(Request("update_parameters", args, group="ex8.update"))
    lab = cases[0]
    lr = TRAINING_LR
    out.append(Request("update_parameters", (lab.parameters, refs[0].gradients, lr), group="ex8.training"))
    for _ in range(1, STEPS):

        def make_args(answers: Sequence[Answer]) -> tuple[tuple, dict]:
            # ``answers`` ends with the previous step's (the run's answers so far)
            params = _as_parameters(answers[-1].value, lab.parameters, "update_parameters")
            return (params, gradients(params, lab.X, lab.Y), lr), {}

        out.append(Request("update_parameters", (), group="ex8.training", make_args=make_args))
    return out


# -------------------------------------------------------------------------------------------- judging


def _where(case: Ex8Case, with_case: bool) -> str:
    return f"{case.label}: " if with_case else ""


def _failure(answer: Answer, case: Ex8Case, with_case: bool) -> str:
    general = answer.reason.startswith(GENERAL_REASONS)
    return answer.reason if general else _where(case, with_case) + (answer.reason or "failed")


def _first_failure(
    cases: Sequence[Ex8Case],
    answers: Sequence[Answer],
    check: Callable[[Any, _Reference], None],
    refs: Sequence[_Reference],
) -> str:
    """Why ``check`` fails on the first case it fails ("" when it passes on every case)."""
    with_case = len(cases) > 1
    for case, answer, ref in zip(cases, answers, refs, strict=True):
        if not answer.ok:
            return _failure(answer, case, with_case)
        try:
            check(answer.value, ref)
        except CheckFailed as exc:
            return _where(case, with_case) + str(exc)
        except Exception as exc:  # an answer NumPy chokes on
            return _where(case, with_case) + f"the answer could not be compared ({type(exc).__name__})"
    return ""


def _check_gradient(name: str, value: Any, expected: np.ndarray) -> None:
    if not isinstance(value, Mapping):
        raise CheckFailed(
            f"backward_propagation returned {describe_value(value)}, expected a dict of gradients"
        )
    if name not in value:
        raise CheckFailed(f"the gradients have no {name!r} (keys: dW1, db1, dW_fc, db_fc)")
    compare_array(value[name], [expected], name, relative=True)


def _check_update(value: Any, expected: Mapping[str, np.ndarray]) -> None:
    got = _as_parameters(value, expected, "update_parameters")
    for key in PARAMETERS:
        compare_array(got[key], [expected[key]], key, relative=True)


def _result(check: str, marks: int, reason: str, hint: str) -> CheckResult:
    exercise = "backward_propagation" if check in GRADIENTS else "update_parameters"
    passed = not reason
    return CheckResult(
        exercise, check, marks if passed else 0, marks, passed, reason, "" if passed else hint, part=PART
    )


def judge_exercise8(scheme: str, seed: int | None, answers: Sequence[Answer]) -> list[CheckResult]:
    """The six checks from the answers to :func:`requests` (in that order)."""
    cases, refs = ex8_cases(scheme, seed), references(scheme, seed)
    n = len(cases)
    if len(answers) != 2 * n + STEPS:
        raise ValueError(f"judge_exercise8: {len(answers)} answers for {2 * n + STEPS} requests")
    backward, update, training = answers[:n], answers[n : 2 * n], answers[2 * n :]
    results = []
    for check, marks in CHECKS[:4]:

        def gradient(value: Any, ref: _Reference, name: str = check) -> None:
            _check_gradient(name, value, ref.gradients[name])

        reason = _first_failure(cases, backward, gradient, refs)
        results.append(_result(check, marks, reason, HINTS["gradients"]))
    reason = _first_failure(cases, update, lambda value, ref: _check_update(value, ref.updated), refs)
    results.append(_result("update", CHECKS[4][1], reason, HINTS["update"]))
    results.append(_result("training", CHECKS[5][1], _training_reason(cases[0], training), HINTS["training"]))
    return results


def _training_reason(lab: Ex8Case, answers: Sequence[Answer]) -> str:
    """Why the chained steps did not lower the cost every time ("" when they did)."""
    before = cost(lab.parameters, lab.X, lab.Y)
    for step, answer in enumerate(answers, start=1):
        if not answer.ok:
            general = answer.reason.startswith(GENERAL_REASONS)
            return answer.reason if general else f"step {step} of {STEPS}: {answer.reason or 'failed'}"
        try:
            params = _as_parameters(answer.value, lab.parameters, "update_parameters")
            after = cost(params, lab.X, lab.Y)
        except CheckFailed as exc:
            return f"step {step} of {STEPS}: {exc}"
        except Exception as exc:
            return f"step {step} of {STEPS}: the parameters could not be used ({type(exc).__name__})"
        previous = (
            lab.parameters if step == 1 else _as_parameters(answers[step - 2].value, lab.parameters, "")
        )
        g = gradients(previous, lab.X, lab.Y)
        reference = cost(_reference().update_parameters(previous, g, TRAINING_LR), lab.X, lab.Y)
        if not before - after >= TRAINING_SHARE * (before - reference):
            return (
                f"the cost did not go down enough at step {step} of {STEPS} ({before:.6g} -> {after:.6g}; "
                f"a gradient step goes to {reference:.6g})"
            )
        before = after
    return ""
