"""The lab's checks: its cases (seed 2023), its marks (70 in all), and, for the notebook, hashed answers.

Cases: ``np.random.seed(2023)`` before each (here ``np.random.RandomState(2023)``, the same numbers without
touching the global generator), with the lab's inputs:

- ``zero_pad(randn(4, 3, 3, 2), 2)``: 5 marks (output).
- ``conv_single_step(randn(4, 3, 3), randn(4, 3, 3), randn(1, 1, 1))``: 5 (output).
- ``conv_forward(randn(10, 7, 7, 5), randn(3, 3, 5, 8), randn(1, 1, 1, 8), {"pad": 1, "stride": 1})``:
  15 (output Z, cache, mean of Z).
- ``pool_forward(randn(2, 5, 5, 3), {"stride": 2, "f": 3}, mode)``: 10 (mode "max", mode "average").
- ``conv_backward(Z, cache)`` on the conv_forward case: 15 (dA_prev, dW, db).
- ``create_mask_from_window(randn(2, 3))``: 5 (output).
- ``distribute_value(5, (7, 7))``: 5 (output).
- ``pool_backward(dA, (A_prev, {"stride": 1, "f": 2}), mode)`` with ``A_prev = randn(5, 5, 3, 2)`` then
  ``dA = randn(5, 4, 2, 2)``: 10 (mode "max", mode "average").

The lab's notebook states only some of its seed-2023 cases in print; the pool_forward case (f 3, stride 2
on ``randn(2, 5, 5, 3)``, as in the seed-1 version of the lab) and the create_mask case (``randn(2, 3)``)
follow the lab's seed-1 version. The mode is passed by position.

Each function is graded on its own inputs, so one bug costs one exercise's marks. Where the notebook feeds
one function's output to the next (``conv_backward(Z, cache)`` after the student's ``conv_forward``), the
grader computes ``Z`` with cnnlab's reference :func:`cnnlab.ops.conv_forward` instead; a pooling cache is
just ``(A_prev, hparameters)`` and is built directly. Calls inside the student's own code are the student's
business: a ``conv_forward`` that calls a broken ``conv_single_step`` loses the conv_forward marks too, as in
the notebook.

What each check looks at
------------------------
Each :class:`Check` selects a part of its call's result (``select``: Z of ``(Z, cache)``, dW of
``(dA_prev, dW, db)``...). :mod:`cnnlab.grading.judge` compares that part with the same part of the
results it computes itself, for the lab's case and (``full`` scheme) the hidden cases of
:mod:`cnnlab.grading.cases`; the conv_forward *cache* must be ``(A_prev, W, b, hparameters)``: the inputs.

For the notebook's own checks only, the expected answers are also stored as hashes in ``expected.json``
beside this module (``kind`` says which hash: an array hash, a CRC32 of a number, both for conv_backward),
written by ``python -m cnnlab.grading.make_expected`` from :mod:`cnnlab.ops.loops`. ``cnnlab grade`` does
not use them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.grading.hashing import CheckFailed, array_hash, scalar_hash

__all__ = [
    "CALLS",
    "CHECKS",
    "EXERCISES",
    "EXPECTED_PATH",
    "FUNCTIONS",
    "SEED",
    "Call",
    "Check",
    "compute_expected",
    "load_expected",
]

SEED = 2023
EXPECTED_PATH = Path(__file__).with_name("expected.json")
EXPECTED_FORMAT = "cnnlab-grading-expected/1"

#: The lab's eight functions, in the order the notebook introduces them.
FUNCTIONS = (
    "zero_pad",
    "conv_single_step",
    "conv_forward",
    "pool_forward",
    "conv_backward",
    "create_mask_from_window",
    "distribute_value",
    "pool_backward",
)
CONV_HPARAMETERS = {"pad": 1, "stride": 1}
POOL_FORWARD_HPARAMETERS = {"stride": 2, "f": 3}
POOL_BACKWARD_HPARAMETERS = {"stride": 1, "f": 2}

Inputs = tuple[tuple[Any, ...], dict[str, Any]]


def _rs() -> np.random.RandomState:
    return np.random.RandomState(SEED)


def _zero_pad_inputs() -> Inputs:
    return (_rs().randn(4, 3, 3, 2), 2), {}


def _single_step_inputs() -> Inputs:
    r = _rs()
    return (r.randn(4, 3, 3), r.randn(4, 3, 3), r.randn(1, 1, 1)), {}


def _conv_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    r = _rs()
    return r.randn(10, 7, 7, 5), r.randn(3, 3, 5, 8), r.randn(1, 1, 1, 8), dict(CONV_HPARAMETERS)


def _conv_forward_inputs() -> Inputs:
    return _conv_arrays(), {}


def _conv_backward_inputs() -> Inputs:
    from cnnlab.ops import conv_forward  # the reference forward pass, so conv_backward is graded alone

    A_prev, W, b, hparameters = _conv_arrays()
    Z, _ = conv_forward(A_prev, W, b, hparameters)
    return (Z, (A_prev, W, b, dict(hparameters))), {}


def _pool_forward_inputs(mode: str) -> Callable[[], Inputs]:
    def make() -> Inputs:
        return (_rs().randn(2, 5, 5, 3), dict(POOL_FORWARD_HPARAMETERS), mode), {}

    return make


def _mask_inputs() -> Inputs:
    return (_rs().randn(2, 3),), {}


def _distribute_inputs() -> Inputs:
    return (5, (7, 7)), {}


def _pool_backward_inputs(mode: str) -> Callable[[], Inputs]:
    def make() -> Inputs:
        r = _rs()
        A_prev = r.randn(5, 5, 3, 2)
        dA = r.randn(5, 4, 2, 2)
        return (dA, (A_prev, dict(POOL_BACKWARD_HPARAMETERS)), mode), {}

    return make


@dataclass(frozen=True)
class Call:
    """One call of a student's function: ``function(*args, **kwargs)`` with ``make_inputs()``."""

    name: str
    function: str
    make_inputs: Callable[[], Inputs]


#: The calls, in the notebook's order. A crash or time-out in one costs only the checks made on it.
CALLS: tuple[Call, ...] = (
    Call("zero_pad", "zero_pad", _zero_pad_inputs),
    Call("conv_single_step", "conv_single_step", _single_step_inputs),
    Call("conv_forward", "conv_forward", _conv_forward_inputs),
    Call("pool_forward[max]", "pool_forward", _pool_forward_inputs("max")),
    Call("pool_forward[average]", "pool_forward", _pool_forward_inputs("average")),
    Call("conv_backward", "conv_backward", _conv_backward_inputs),
    Call("create_mask_from_window", "create_mask_from_window", _mask_inputs),
    Call("distribute_value", "distribute_value", _distribute_inputs),
    Call("pool_backward[max]", "pool_backward", _pool_backward_inputs("max")),
    Call("pool_backward[average]", "pool_backward", _pool_backward_inputs("average")),
)
CALLS_BY_NAME = {c.name: c for c in CALLS}


# ------------------------------------------------------------------------------------------ selectors


def describe_value(value: Any) -> str:
    """How a reason names an answer: ``None``, ``an array of shape (2, 3)``, ``a tuple of 3``, ``a Liar``."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return getattr(value, "description", None) or f"a {type(value).__name__}"


def _item(index: int, length: int, names: str) -> Callable[[Any], Any]:
    def select(value: Any) -> Any:
        if not isinstance(value, (tuple, list)) or len(value) != length:
            raise CheckFailed(f"returned {describe_value(value)}, expected {names}")
        return value[index]

    return select


def _identity(value: Any) -> Any:
    return value


def _mean_of_first(value: Any) -> Any:
    Z = _item(0, 2, "(Z, cache)")(value)
    arr = np.asarray(Z) if isinstance(Z, (np.ndarray, list, tuple)) else None
    if arr is None or arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or arr.size == 0:
        raise CheckFailed(f"Z is {describe_value(Z)}, not a numeric array")
    return np.mean(arr)


@dataclass(frozen=True)
class Check:
    """One marked check on the result of a :class:`Call`."""

    exercise: str
    check: str
    marks: int
    call: str
    kind: str  # "hash" | "scalar" | "hash+mean" | "cache"
    select: Callable[[Any], Any] = field(compare=False)
    what: str = ""  # how a reason names the selected part ("dW"); "" for the whole answer

    @property
    def key(self) -> str:
        return f"{self.exercise}/{self.check}"


_pair = "(A, cache)"
_grads = "(dA_prev, dW, db)"

CHECKS: tuple[Check, ...] = (
    Check("zero_pad", "output", 5, "zero_pad", "hash", _identity),
    Check("conv_single_step", "output", 5, "conv_single_step", "scalar", _identity),
    Check("conv_forward", "output", 5, "conv_forward", "hash", _item(0, 2, "(Z, cache)")),
    Check("conv_forward", "cache", 5, "conv_forward", "cache", _item(1, 2, "(Z, cache)")),
    Check("conv_forward", "mean", 5, "conv_forward", "scalar", _mean_of_first, "mean of Z"),
    Check("pool_forward", "max", 5, "pool_forward[max]", "hash", _item(0, 2, _pair)),
    Check("pool_forward", "average", 5, "pool_forward[average]", "hash", _item(0, 2, _pair)),
    Check("conv_backward", "dA", 5, "conv_backward", "hash+mean", _item(0, 3, _grads), "dA_prev"),
    Check("conv_backward", "dW", 5, "conv_backward", "hash+mean", _item(1, 3, _grads), "dW"),
    Check("conv_backward", "db", 5, "conv_backward", "hash+mean", _item(2, 3, _grads), "db"),
    Check("create_mask_from_window", "output", 5, "create_mask_from_window", "hash", _identity),
    Check("distribute_value", "output", 5, "distribute_value", "hash", _identity),
    Check("pool_backward", "max", 5, "pool_backward[max]", "hash", _identity),
    Check("pool_backward", "average", 5, "pool_backward[average]", "hash", _identity),
)
EXERCISES = {name: sum(c.marks for c in CHECKS if c.exercise == name) for name in FUNCTIONS}
AVAILABLE = sum(c.marks for c in CHECKS)
assert AVAILABLE == 70 and set(EXERCISES) == {c.exercise for c in CHECKS}


# ----------------------------------------------------------------------------------- expected values


def _hash_entry(value: Any) -> dict[str, Any]:
    shape, h = array_hash(value)
    return {"shape": list(shape), "hash": h}


def _expected_entry(check: Check, value: Any) -> dict[str, Any]:
    """The stored form of a reference answer for ``check`` (``value`` is the reference call's result)."""
    selected = check.select(value)
    if check.kind == "hash":
        return _hash_entry(selected)
    if check.kind == "scalar":
        return {"crc32": scalar_hash(selected)}
    if check.kind == "hash+mean":
        return {**_hash_entry(selected), "mean_crc32": scalar_hash(np.mean(selected))}
    if check.kind == "cache":
        (A_prev, W, b, hparameters), _ = CALLS_BY_NAME[check.call].make_inputs()
        return {"arrays": [_hash_entry(a) for a in (A_prev, W, b)], "hparameters": hparameters}
    raise AssertionError(f"unknown check kind {check.kind!r}")


def compute_expected(functions: Mapping[str, Callable[..., Any]]) -> dict[str, dict[str, Any]]:
    """Run the lab's calls with ``functions`` (e.g. ``vars(cnnlab.ops.loops)``); stored form of each check."""
    results = {}
    for call in CALLS:
        args, kwargs = call.make_inputs()
        results[call.name] = functions[call.function](*args, **kwargs)
    return {check.key: _expected_entry(check, results[check.call]) for check in CHECKS}


@cache
def load_expected(path: str | Path = EXPECTED_PATH) -> dict[str, dict[str, Any]]:
    """The stored expected values, ``{"exercise/check": entry}``; checks that every check has one."""
    data = json.loads(Path(path).read_text())
    if data.get("format") != EXPECTED_FORMAT:
        raise ValueError(f"{path}: not a {EXPECTED_FORMAT} file (run python -m cnnlab.grading.make_expected)")
    checks = data["checks"]
    missing = [c.key for c in CHECKS if c.key not in checks]
    if missing:
        raise ValueError(f"{path}: no expected value for {', '.join(missing)}")
    return checks
