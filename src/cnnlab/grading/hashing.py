"""Checks that compare an answer with an expected value without showing the value in the clear.

Arrays
------
``array_hash(x)`` is ``(shape, h)`` with ``h`` the sum of seven NaN-aware statistics of ``x`` in float64::

    h = nanmax(x) + nanmin(x) + nanmean(x) + nanmedian(x) + nanstd(x) + nansum(x)
        + nansum(flat * arange(len(flat)))          # flat = x.ravel() in C order

The last, index-weighted term makes the hash depend on *where* the values are, not only on which values
there are (a transposed answer changes it). ``check_hash`` passes when the shapes are equal and
``allclose(h, expected, rtol=1e-5, atol=1e-5)``. The index-weighted term dominates for large arrays, so
the tolerance is loose in absolute terms (about 21 for the lab's (10, 7, 7, 8) conv output, whose hash is
about 2.1e6); a wrong formula moves it far more than that, and the lab pairs such checks with a scalar
check of the mean. An empty array hashes to 0.0; an array with no finite
statistics (all NaN) hashes to NaN, which never passes. Booleans and integers are hashed as float64, so a
boolean mask and the same mask as 0/1 numbers have the same hash.

Scalars
-------
``scalar_hash(x)`` is the CRC32 of ``f"{x:1.5e}"`` (six significant digits). ``check_scalar`` also accepts
``x * (1 + 1e-6)`` and ``x * (1 - 1e-6)``, so a value that sits on a rounding edge of the sixth digit is not
failed for a last-bit difference in the order of a sum. A one-element array counts as its value.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "ATOL",
    "RTOL",
    "CheckFailed",
    "array_hash",
    "check_hash",
    "check_scalar",
    "scalar_hash",
]

#: Tolerances of :func:`check_hash` (``np.allclose`` on the two hashes).
RTOL = 1e-5
ATOL = 1e-5
#: Relative nudge :func:`check_scalar` also tries in each direction.
SCALAR_NUDGE = 1e-6


class CheckFailed(AssertionError):
    """A check did not pass; the message is the short reason shown next to the red cross."""


def _kind(x: Any) -> str:
    """How a reason names the type of an answer (a value that came back from the sandbox describes itself)."""
    return getattr(x, "description", None) or f"a {type(x).__name__}"


def _as_float_array(x: Any) -> np.ndarray:
    if x is None:
        raise CheckFailed("the answer is None (did the function forget to return?)")
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise CheckFailed(f"the answer is not an array ({_kind(x)}): {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise CheckFailed(f"the answer is not a numeric array (got {_kind(x)}, dtype {arr.dtype})")
    if np.iscomplexobj(arr):
        raise CheckFailed(f"the answer is complex (dtype {arr.dtype})")
    return arr.astype(np.float64, copy=False)


def array_hash(x: Any) -> tuple[tuple[int, ...], float]:
    """``(shape, h)`` of an array-like ``x`` (see the module docstring for ``h``).

    Parameters
    ----------
    x : array-like of numbers or booleans, any shape

    Returns
    -------
    (shape, h) : the shape as a tuple of ints and the float hash

    Raises
    ------
    CheckFailed : ``x`` is None or not numeric
    """
    arr = _as_float_array(x)
    shape = tuple(int(n) for n in arr.shape)
    if arr.size == 0:
        return shape, 0.0
    flat = arr.ravel()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: the statistic is NaN
        parts = (
            np.nanmax(flat),
            np.nanmin(flat),
            np.nanmean(flat),
            np.nanmedian(flat),
            np.nanstd(flat),
            np.nansum(flat),
            np.nansum(flat * np.arange(flat.size, dtype=np.float64)),
        )
        h = float(np.sum(parts, dtype=np.float64))
    return shape, h


def _expected_pair(expected: Any) -> tuple[tuple[int, ...], float]:
    if isinstance(expected, Mapping):
        return tuple(expected["shape"]), float(expected["hash"])
    if isinstance(expected, Sequence) and len(expected) == 2:
        return tuple(expected[0]), float(expected[1])
    raise TypeError(f"expected must be (shape, hash) or {{'shape', 'hash'}}, got {expected!r}")


def _prefix(what: str | None, message: str) -> str:
    return f"{what}: {message}" if what else message


def check_hash(x: Any, expected: Any, what: str | None = None) -> bool:
    """Pass (return True) when ``array_hash(x)`` matches ``expected``; raise :class:`CheckFailed` if not.

    Parameters
    ----------
    x : the answer, array-like
    expected : ``(shape, hash)`` or a mapping ``{"shape": ..., "hash": ...}`` as stored by the grader
    what : a name for the answer that prefixes the reason ("dW: wrong values"); none by default

    Raises
    ------
    CheckFailed : "wrong shape (a, b), expected (c, d)", "wrong values", or why ``x`` is not a numeric
        array. Usable as ``assert check_hash(...)`` or bare inside ``with marks(n):``.
    """
    shape, h = _expected_pair(expected)
    try:
        got_shape, got = array_hash(x)
    except CheckFailed as exc:
        raise CheckFailed(_prefix(what, str(exc))) from None
    if got_shape != shape:
        raise CheckFailed(_prefix(what, f"wrong shape {got_shape}, expected {shape}"))
    if not np.allclose(got, h, rtol=RTOL, atol=ATOL):
        raise CheckFailed(_prefix(what, "wrong values"))
    return True


def _as_scalar(x: Any) -> float:
    if x is None:
        raise CheckFailed("the answer is None (did the function forget to return?)")
    if isinstance(x, (bool, np.bool_)):
        raise CheckFailed(f"the answer is a boolean ({x!r}), expected a number")
    try:
        arr = np.asarray(x)
    except Exception:
        raise CheckFailed(f"the answer is not a number ({_kind(x)})") from None
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise CheckFailed(f"the answer is not a real number ({_kind(x)})")
    if arr.size != 1:
        raise CheckFailed(f"the answer should be one number, got an array of shape {arr.shape}")
    return float(arr.reshape(-1)[0])


def scalar_hash(x: Any) -> int:
    """CRC32 of ``f"{float(x):1.5e}"``: the stored form of an expected number."""
    return zlib.crc32(f"{_as_scalar(x):1.5e}".encode("ascii"))


def check_scalar(x: Any, expected_crc: int, what: str | None = None) -> bool:
    """Pass (return True) when ``x``, ``x*(1+1e-6)`` or ``x*(1-1e-6)`` has the CRC32 ``expected_crc``.

    ``x`` is a real number or a one-element array. ``what`` prefixes the reason, as in :func:`check_hash`.

    Raises
    ------
    CheckFailed : "wrong value", or why ``x`` is not one finite real number
    """
    try:
        value = _as_scalar(x)
    except CheckFailed as exc:
        raise CheckFailed(_prefix(what, str(exc))) from None
    if not math.isfinite(value):
        raise CheckFailed(_prefix(what, f"the answer is {value}"))
    candidates = (value, value * (1 + SCALAR_NUDGE), value * (1 - SCALAR_NUDGE))
    if any(zlib.crc32(f"{c:1.5e}".encode("ascii")) == int(expected_crc) for c in candidates):
        return True
    raise CheckFailed(_prefix(what, "wrong value"))
