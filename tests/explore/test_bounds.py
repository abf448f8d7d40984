"""The server's checks of what the browser sends (cnnlab.explore.bounds), without a browser."""

from __future__ import annotations

import pytest

from cnnlab.explore import bounds as B


@pytest.mark.parametrize(
    ("name", "sent", "used"),
    [("pad", 4000, 4), ("pad", -3, 0), ("f", 1e300, 7), ("rand_h", 0, 1), ("rand_h", 40, 16),
     ("channels", 50, 3), ("filters", 0, 1), ("stride", 0, 1), ("rand_seed", -1, 0),
     ("rand_seed", 10**40, B.SEED_MAX), ("bias", -1e9, -1000.0)],
)  # fmt: skip
def test_numbers_outside_the_bounds_are_clamped_with_a_note(name, sent, used):
    chk = B.check(name, sent)
    assert chk.value == used and chk.reset
    assert chk.note is not None and "\n" not in chk.note and "outside" in chk.note
    assert chk.note.startswith(B.BOUNDS[name].label)


@pytest.mark.parametrize("sent", ["abc", float("nan"), float("inf"), [1, 2], {"a": 1}, True])
def test_values_that_are_not_numbers_fall_back_to_the_default(sent):
    chk = B.check("pad", sent)
    assert chk.value == B.BOUNDS["pad"].default and chk.reset and "not a number" in chk.note


def test_values_inside_the_bounds_pass_and_integers_round():
    assert B.check("pad", 2).value == 2 and B.check("pad", 2).note is None
    assert B.check("pad", "3").value == 3
    rounded = B.check("stride", 2.6)
    assert rounded.value == 3 and rounded.reset and rounded.note is None
    assert B.check("bias", 2.5).value == 2.5 and not B.check("bias", 2.5).reset
    empty = B.check("rand_h", None)
    assert empty.value == 6 and empty.note is None and not empty.reset


def test_choices_must_be_one_of_the_page_s():
    assert B.check("source", "cat").value == "cat"
    for sent in ("6000", 6000, None, "../../etc"):
        chk = B.check("img_size" if sent in ("6000", 6000) else "source", sent)
        assert chk.reset and "not one of the choices" in chk.note
    assert B.check("img_size", "6000").value == "16"


def test_a_long_value_is_quoted_short():
    chk = B.check("pad", "x" * 10_000)
    assert len(chk.note) < 120
