"""Marks of the eight functions' part alone: most grading tests hand in files of the eight functions only
(exercise 8 and Part 2 have their own tests, test_exercise8.py and test_part2.py)."""

from __future__ import annotations


def fn_total(report) -> int:
    """Marks of the functions part (out of 70)."""
    return report.parts()["functions"][0]


def fn_available(report) -> int:
    return report.parts()["functions"][1]


def fn_failed(report) -> dict[str, str]:
    """``{check key: reason}`` of the failed checks of the eight functions."""
    return {c.key: c.reason for c in report.checks if not c.passed and c.part == "functions"}
