"""``with marks(n):`` records, the summary's text and HTML."""

from __future__ import annotations

import pytest

from cnnlab.grading import CheckFailed, Ledger, marks, summary
from cnnlab.grading.marks import default_ledger


def test_a_block_earns_its_marks_or_fails_with_a_reason(capsys):
    ledger = Ledger()
    with marks(5, "zero_pad", ledger=ledger):
        pass
    with marks(10, "pool_forward", ledger=ledger):
        raise CheckFailed("wrong shape (2, 2), expected (2, 3)")
    with marks(5, "conv_single_step", ledger=ledger):
        raise AssertionError  # what a bare `assert` raises outside pytest
    with marks(5, "distribute_value", ledger=ledger):
        raise NotImplementedError
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "✓ zero_pad: 5 / 5 marks",
        "✘ pool_forward: 0 / 10 marks (wrong shape (2, 2), expected (2, 3))",
        "✘ conv_single_step: 0 / 5 marks (assertion failed)",
        "✘ distribute_value: 0 / 5 marks (NotImplementedError)",
    ]
    s = ledger.summary()
    assert (s.total, s.available) == (5, 25)
    assert str(s).splitlines()[-1] == "5 / 25 marks"
    html = s._repr_html_()
    assert "5 / 25 marks" in html and "wrong shape (2, 2), expected (2, 3)" in html and "✘" in html


def test_rerunning_a_block_replaces_its_record():
    ledger = Ledger()
    for answer_ok in (False, True):  # the same `with` statement, run twice (a re-run notebook cell)
        with marks(5, ledger=ledger, quiet=True):
            if not answer_ok:
                raise CheckFailed("wrong values")
    assert [r.passed for r in ledger.records] == [True]
    assert ledger.summary().total == 5


def test_interrupts_are_not_swallowed():
    ledger = Ledger()
    with pytest.raises(KeyboardInterrupt), marks(5, "x", ledger=ledger, quiet=True):
        raise KeyboardInterrupt
    assert ledger.records == []


def test_the_default_ledger_feeds_summary():
    default_ledger.clear()
    try:
        with marks(3, "a", quiet=True):
            pass
        assert summary().total == 3 and "a" in summary()._repr_html_()
    finally:
        default_ledger.clear()


def test_html_escapes_reasons():
    ledger = Ledger()
    with marks(1, "<b>", ledger=ledger, quiet=True):
        raise ValueError("<script>")
    html = ledger.summary()._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;script&gt;" in ledger.records[0]._repr_html_()
