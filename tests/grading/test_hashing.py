"""array_hash / check_hash / check_scalar against hand-computed values."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from cnnlab.grading import CheckFailed, array_hash, check_hash, check_scalar, scalar_hash


def test_array_hash_is_the_sum_of_the_seven_statistics():
    # [[1, 2], [3, 4]]: max 4, min 1, mean 2.5, median 2.5, std sqrt(1.25), sum 10, 0*1+1*2+2*3+3*4 = 20
    shape, h = array_hash([[1, 2], [3, 4]])
    assert shape == (2, 2)
    assert h == pytest.approx(4 + 1 + 2.5 + 2.5 + math.sqrt(1.25) + 10 + 20, rel=1e-15)


def test_array_hash_ignores_nans():
    # [1, nan, 3]: max 3, min 1, mean 2, median 2, std 1, sum 4, 0*1 + 2*3 = 6
    shape, h = array_hash(np.array([1.0, np.nan, 3.0]))
    assert shape == (3,)
    assert h == pytest.approx(3 + 1 + 2 + 2 + 1 + 4 + 6, rel=1e-15)


def test_array_hash_depends_on_positions_and_not_on_dtype():
    x = np.arange(6.0).reshape(2, 3)
    assert array_hash(x)[1] != array_hash(x[:, ::-1])[1]  # same values, other places
    mask = np.array([[True, False], [False, False]])
    assert array_hash(mask) == array_hash(mask.astype(int)) == array_hash(mask.astype(np.float32))


def test_empty_and_all_nan_arrays():
    assert array_hash(np.zeros((0, 3))) == ((0, 3), 0.0)
    shape, h = array_hash(np.full(4, np.nan))
    assert shape == (4,) and math.isnan(h)
    with pytest.raises(CheckFailed, match="wrong values"):
        check_hash(np.full(4, np.nan), ((4,), 0.0))


def test_check_hash_passes_within_the_tolerance_only():
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    shape, h = array_hash(x)
    assert check_hash(x, (shape, h)) is True
    assert check_hash(x, {"shape": list(shape), "hash": h * (1 + 5e-6)})  # within rtol=1e-5
    with pytest.raises(CheckFailed, match=r"^wrong values$"):
        check_hash(x, (shape, h * (1 + 1e-4) + 1e-3))
    with pytest.raises(CheckFailed, match=r"wrong shape \(4, 3\), expected \(3, 4\)"):
        check_hash(x.T, (shape, h))


@pytest.mark.parametrize(
    ("answer", "reason"),
    [(None, "None"), ("text", "not a numeric array"), ([[1, 2], [3]], "not an array|not a numeric array")],
)
def test_check_hash_explains_non_arrays(answer, reason):
    with pytest.raises(CheckFailed, match=reason):
        check_hash(answer, ((2, 2), 1.0), "dW")


def test_scalar_hash_is_the_crc32_of_six_significant_digits():
    assert scalar_hash(17.154767154043057) == zlib.crc32(b"1.71548e+01")
    assert scalar_hash(np.array([[[-0.5]]])) == zlib.crc32(b"-5.00000e-01")  # one-element arrays count


def test_check_scalar_accepts_a_relative_nudge_of_1e_6():
    one = zlib.crc32(b"1.00000e+00")
    assert check_scalar(1.0, one)
    assert check_scalar(0.9999991, one)  # "9.99999e-01", but 0.9999991 * (1 + 1e-6) prints as 1.00000e+00
    with pytest.raises(CheckFailed, match="wrong value"):
        check_scalar(0.99999, one)
    with pytest.raises(CheckFailed, match="one number"):
        check_scalar(np.ones(3), one)
    with pytest.raises(CheckFailed, match="nan"):
        check_scalar(float("nan"), one)
    with pytest.raises(CheckFailed, match=r"^mean: wrong value$"):
        check_scalar(2.0, one, "mean")
