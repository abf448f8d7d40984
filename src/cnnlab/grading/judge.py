"""The trusted side of grading: expected answers computed here, whole arrays compared here.

The grader's own process computes every expected result from the loop reference
(:mod:`cnnlab.ops.loops`, the lab's functions as taught) on the same inputs the worker gets, and compares
what came back as whole arrays: the shape, the kind of dtype, and ``allclose`` with
``rtol = 1e-5`` and ``atol = 1e-6 * max(1, max|expected|)`` (float32 arithmetic passes; a wrong index
does not). Nothing the submission can reach holds an answer: the worker gets inputs only.

Where a case has tied maxima, two results are accepted: the reference's first-maximum rule (PyTorch's)
and the lab's ``x == np.max(x)`` mask, with which every tied position gets the whole gradient.

A failed check's reason names the case in words ("conv_forward, stride 2, pad 0, 5x7 input: wrong
values"), never an expected value; its hint (for feedback files) says what such a case usually catches.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cnnlab.grading.cases import Case, cases
from cnnlab.grading.hashing import CheckFailed
from cnnlab.grading.lab import CHECKS, Check, describe_value
from cnnlab.grading.report import CheckResult
from cnnlab.grading.sandbox import Answer

__all__ = ["GENERAL_REASONS", "HINTS", "copy_value", "expected_results", "judge", "pool_backward_all_maxima"]

RTOL = 1e-5
ATOL = 1e-6
#: Reasons that are about the whole call (absent, not run, not loaded), not about one case: shown as they are.
GENERAL_REASONS = ("missing:", "not graded:", "not run:", "the submission could not be loaded")

#: What a failed hidden case of each kind usually means (feedback hints), by case tag.
TAG_HINTS = {
    "stride": "A window starts at h * stride and w * stride, and the output has "
    "floor((n_H_prev - f + 2 * pad) / stride) + 1 rows; check that the stride is used everywhere.",
    "pad0": "With pad = 0 a slice like [pad:-pad] is empty; slice [pad:pad + n_H_prev] instead.",
    "nonsquare": "Height and width can differ: use n_W_prev (not n_H_prev) for the width.",
    "f1": "Check the edge case f = 1 (a 1x1 window).",
    "fH": "When f equals the input height the output has one row; check the output-size formula.",
    "overlap": "With stride < f the windows overlap: add (+=) each window's gradient, do not assign (=).",
    "channels": "Use every channel: the window spans all n_C_prev input channels, and there are n_C filters.",
    "ties": "A window can hold several equal maxima: x == np.max(x) and marking only the first maximum are "
    "both accepted, but the mask must mark maxima only.",
}
#: What each exercise asks for, when the lab's own case fails.
HINTS = {
    "zero_pad": "np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode='constant') pads height and "
    "width only.",
    "conv_single_step": "Z = np.sum(a_slice_prev * W) + b, with b as a number (b.item()).",
    "conv_forward": "Z[i, h, w, c] = conv_single_step(a_prev_pad[vert_start:vert_end, "
    "horiz_start:horiz_end, :], W[:, :, :, c], b[:, :, :, c]); the cache is (A_prev, W, b, hparameters).",
    "pool_forward": "A[i, h, w, c] = np.max (or np.mean) of A_prev[i, vert_start:vert_end, "
    "horiz_start:horiz_end, c], with vert_start = h * stride.",
    "conv_backward": "da_prev_pad[window] += W[:, :, :, c] * dZ[i, h, w, c]; dW[:, :, :, c] += a_slice * "
    "dZ[i, h, w, c]; db[:, :, :, c] += dZ[i, h, w, c]; then strip the padding.",
    "create_mask_from_window": "mask = (x == np.max(x)).",
    "distribute_value": "np.ones(shape) * dz / (n_H * n_W).",
    "pool_backward": "For max, dA_prev[window] += mask * dA[i, h, w, c]; for average, "
    "+= distribute_value(dA[i, h, w, c], (f, f)).",
    "identity": "Fill in carne_1, firma_mecanografiada_1 (and _2 for your partner) in the first cells.",
}


# ------------------------------------------------------------------------------------ expected answers


def pool_backward_all_maxima(dA: np.ndarray, cache: tuple) -> np.ndarray:
    """Max-pool backward with the lab's tie rule: every position equal to its window's maximum gets dA.

    dA : (m, n_H, n_W, n_C); cache : (A_prev (m, n_H_prev, n_W_prev, n_C), {"f", "stride"}).
    Returns dA_prev of A_prev's shape; overlapping windows add up. (The reference,
    :func:`cnnlab.ops.loops.pool_backward`, gives the gradient to the first maximum only.)
    """
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    dA_prev = np.zeros(A_prev.shape)
    m, n_H, n_W, n_C = dA.shape
    for i, h, w, c in np.ndindex(m, n_H, n_W, n_C):
        rows = slice(h * stride, h * stride + f)
        cols = slice(w * stride, w * stride + f)
        window = A_prev[i, rows, cols, c]
        dA_prev[i, rows, cols, c] += (window == np.max(window)) * dA[i, h, w, c]
    return dA_prev


def expected_results(case: Case) -> list[Any]:
    """The accepted results of ``case``'s call: the reference's, and the lab's tie rule where it differs."""
    from cnnlab.ops import loops

    reference = getattr(loops, case.function)(*case.args, **case.kwargs)
    accepted = [reference]
    if case.ties and case.function == "create_mask_from_window":
        (x,) = case.args
        accepted.append(x == np.max(x))
    elif case.ties and case.function == "pool_backward" and case.args[2] == "max":
        accepted.append(pool_backward_all_maxima(case.args[0], case.args[1]))
    return accepted


@functools.lru_cache(maxsize=8)
def _cached(scheme: str, seed: int | None) -> tuple[tuple[Case, ...], tuple[list[Any], ...]]:
    chosen = tuple(cases(scheme, seed))
    return chosen, tuple(expected_results(c) for c in chosen)


def scheme_cases(scheme: str, seed: int | None) -> tuple[tuple[Case, ...], tuple[list[Any], ...]]:
    """The cases of a scheme and their accepted results, computed once per (scheme, seed)."""
    return _cached(scheme, seed if scheme != "lab" else None)


# ----------------------------------------------------------------------------------------- comparisons


def _as_array(value: Any, what: str) -> np.ndarray:
    if value is None:
        raise CheckFailed(f"{what} is None (did the function forget to return?)")
    if not isinstance(value, (np.ndarray, np.generic, int, float, list, tuple)) or isinstance(value, str):
        raise CheckFailed(f"{what} is {describe_value(value)}, not an array")
    try:
        arr = np.asarray(value)
    except Exception:  # ragged lists and the like
        raise CheckFailed(f"{what} is {describe_value(value)}, not an array") from None
    if arr.dtype.kind not in "biuf":
        raise CheckFailed(f"{what} is not an array of real numbers (dtype {arr.dtype})")
    return arr


def _close(got: np.ndarray, expected: np.ndarray, relative: bool = False) -> bool:
    expected = np.asarray(expected, dtype=np.float64)
    largest = float(np.max(np.abs(expected))) if expected.size else 0.0
    scale = (largest or 1.0) if relative else max(1.0, largest)
    return bool(np.allclose(got.astype(np.float64), expected, rtol=RTOL, atol=ATOL * scale))


def compare_array(
    value: Any, accepted: Sequence[Any], what: str, boolean: bool = False, relative: bool = False
) -> None:
    """Raise :class:`CheckFailed` unless ``value`` equals one of ``accepted`` (shape, dtype kind, allclose).

    ``boolean`` (masks): a bool array, or numbers that are exactly 0 and 1, pass; otherwise the values
    must be floating point when the expected ones are. ``relative``: ``atol = 1e-6 * max|expected|``
    without the floor of 1 (gradients of small weights are small, and so are their errors).
    """
    got = _as_array(value, what)
    shapes = {np.shape(a) for a in accepted}
    if got.shape not in shapes:
        raise CheckFailed(f"{what} has shape {got.shape}, expected {next(iter(shapes))}")
    if boolean and got.dtype.kind != "b" and not np.isin(got, (0, 1)).all():
        raise CheckFailed(f"{what} should be a mask of True/False (or 1/0), got other values")
    if not boolean and got.dtype.kind != "f":
        raise CheckFailed(f"{what} has dtype {got.dtype}, expected floating-point numbers")
    if not np.isfinite(got.astype(np.float64)).all():
        raise CheckFailed(f"{what} holds NaN or infinity")
    if not any(_close(got, a, relative) for a in accepted):
        raise CheckFailed("wrong values" if what == "the answer" else f"{what}: wrong values")


def compare_scalar(value: Any, accepted: Sequence[Any], what: str, scale: float = 1.0) -> None:
    """Raise :class:`CheckFailed` unless ``value`` is one real number close to one of ``accepted``.

    The tolerance is the arrays' rule: ``rtol`` and ``atol * scale``, where ``scale`` is at least
    ``max(1, |accepted|)`` (for a mean, the caller passes the largest magnitude of the array).
    """
    if isinstance(value, (bool, np.bool_)):
        raise CheckFailed(f"{what} is a boolean ({value!r}), expected a number")
    got = _as_array(value, what)
    if got.size != 1:
        raise CheckFailed(f"{what} should be one number, got an array of shape {got.shape}")
    number = float(got.reshape(-1)[0])
    if not np.isfinite(number):
        raise CheckFailed(f"{what} is {number}")
    scale = max([scale, 1.0, *(abs(float(a)) for a in accepted)])
    if not any(np.isclose(number, float(a), rtol=RTOL, atol=ATOL * scale) for a in accepted):
        raise CheckFailed("wrong value" if what == "the answer" else f"{what}: wrong value")


def compare_cache(value: Any, case: Case) -> None:
    """The conv cache must be ``(A_prev, W, b, hparameters)``: the inputs themselves."""
    if not isinstance(value, (tuple, list)) or len(value) != 4:
        raise CheckFailed(f"cache is {describe_value(value)}, expected (A_prev, W, b, hparameters)")
    for name, item, original in zip(("A_prev", "W", "b"), value, case.args[:3], strict=False):
        arr = _as_array(item, f"cache {name}")
        if arr.shape != original.shape or not np.array_equal(arr, original):
            raise CheckFailed(f"cache {name} is not the {name} passed in")
    hp = value[3]
    expected = case.args[3]
    if not isinstance(hp, Mapping) or any(hp.get(k) != v for k, v in expected.items()):
        raise CheckFailed("cache hparameters is not the hparameters passed in")


def compare(check: Check, case: Case, value: Any, accepted: Sequence[Any]) -> None:
    """Raise :class:`CheckFailed` unless the call's result ``value`` passes ``check`` on ``case``."""
    selected = check.select(value)
    if check.kind == "cache":
        compare_cache(selected, case)
    elif check.kind == "scalar":
        scale = 1.0
        if check.check == "mean":  # the mean of Z: as precise as Z's largest values allow
            scale = max(float(np.max(np.abs(np.asarray(a[0])))) for a in accepted)
        compare_scalar(selected, [check.select(a) for a in accepted], check.what or "the answer", scale)
    else:
        boolean = check.exercise == "create_mask_from_window"
        what = check.what or "the answer"
        compare_array(selected, [check.select(a) for a in accepted], what, boolean=boolean)


# --------------------------------------------------------------------------------------------- judging


def _where(case: Case, with_case: bool) -> str:
    return f"{case.function}, {case.label}: " if with_case else ""


def _hint(check: Check, case: Case | None) -> str:
    tags = [TAG_HINTS[t] for t in (case.tags if case is not None else ()) if t in TAG_HINTS]
    return " ".join(tags[:2]) if tags else HINTS.get(check.exercise, "")


def judge(
    chosen: Sequence[Case], answers: Sequence[Answer], accepted: Sequence[list[Any]]
) -> list[CheckResult]:
    """Mark the 14 checks of the eight functions, one answer per case (``chosen[i]`` -> ``answers[i]``)."""
    with_case = any(c.hidden for c in chosen)
    results = []
    for check in CHECKS:
        failed = False
        reason = ""
        failed_case: Case | None = None
        for case, answer, expected in zip(chosen, answers, accepted, strict=True):
            if case.call != check.call:
                continue
            if not answer.ok:
                failed = True
                general = answer.reason.startswith(GENERAL_REASONS)
                reason = answer.reason if general else _where(case, with_case) + answer.reason
                failed_case = None if general else case
                break
            try:
                compare(check, case, answer.value, expected)
            except CheckFailed as exc:
                failed = True
                reason = _where(case, with_case) + str(exc)
                failed_case = case
                break
            except Exception as exc:  # a strange answer that NumPy chokes on: wrong, with the reason
                failed = True
                reason = _where(case, with_case) + f"the answer could not be compared ({type(exc).__name__})"
                failed_case = case
                break
        if failed:  # never decided by the text: a failure with an empty reason is still a failure
            reason = reason or "failed"
            hint = (
                _hint(check, failed_case)
                if not reason.startswith(GENERAL_REASONS)
                else HINTS.get(check.exercise, "")
            )
            results.append(CheckResult(check.exercise, check.check, 0, check.marks, False, reason, hint))
        else:
            results.append(CheckResult(check.exercise, check.check, check.marks, check.marks, True))
    return results


def copy_value(value: Any) -> Any:
    """A deep copy of arrays, tuples, lists and dicts (what a call may modify in place)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, tuple):
        return tuple(copy_value(v) for v in value)
    if isinstance(value, list):
        return [copy_value(v) for v in value]
    if isinstance(value, dict):
        return {k: copy_value(v) for k, v in value.items()}
    return value
