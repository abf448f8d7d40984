"""The two marking schemes on one-bug submissions: the lab's cases miss these bugs, the hidden cases do not.

Each bug is written into one function of ``correct.py`` (a student's solution in loops), and the checks
it must cost are worked out from the lab, not from running the grader:

- a ``zero_pad`` that pads by slicing ``[pad:-pad]`` breaks at pad 0; the student's ``conv_forward`` and
  ``conv_backward`` call it, so their pad-0 hidden cases fail too (as they would in the notebook);
- ``conv_backward``'s db does not use the stride (it sums dZ), so ignoring the stride costs dA and dW only.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.grading import CHECKS, grade_functions, grade_submission
from cnnlab.grading.cases import HIDDEN, LAB_LABEL, cases

from .conftest import CORRECT, ROOMY, function_source
from .parts import fn_failed

SEED = 20231


def _with_bug(function: str, old: str, new: str) -> str:
    body = function_source(function)
    assert body.count(old) >= 1, (function, old)
    return CORRECT.replace(body, body.replace(old, new))


ZERO_PAD_SLICED = """def zero_pad(X, pad):
    m, n_H, n_W, n_C = X.shape
    X_pad = np.zeros((m, n_H + 2 * pad, n_W + 2 * pad, n_C))
    X_pad[:, pad:-pad, pad:-pad, :] = X
    return X_pad
"""

FORWARD = {"conv_forward/output", "conv_forward/mean"}
ALL_CONV_FORWARD = FORWARD | {"conv_forward/cache"}
ALL_CONV_BACKWARD = {"conv_backward/dA", "conv_backward/dW", "conv_backward/db"}

BUGS = {
    "conv_forward ignores the stride": (
        ("conv_forward", "vert_start = h * stride", "vert_start = h"),
        ("conv_forward", "horiz_start = w * stride", "horiz_start = w"),
        FORWARD,
    ),
    "conv_backward ignores the stride": (
        ("conv_backward", "vert_start = h * stride", "vert_start = h"),
        ("conv_backward", "horiz_start = w * stride", "horiz_start = w"),
        {"conv_backward/dA", "conv_backward/dW"},
    ),
    "conv_backward slices [pad:-pad]": (
        (
            "conv_backward",
            "da_prev_pad[pad : pad + n_H_prev, pad : pad + n_W_prev, :]",
            "da_prev_pad[pad:-pad, pad:-pad, :]",
        ),
        ALL_CONV_BACKWARD,
    ),
    "zero_pad slices [pad:-pad]": (
        ("zero_pad", function_source("zero_pad"), ZERO_PAD_SLICED),
        {"zero_pad/output"} | ALL_CONV_FORWARD | ALL_CONV_BACKWARD,
    ),
    "conv_forward uses the height for the width": (
        ("conv_forward", "n_W = int((n_W_prev", "n_W = int((n_H_prev"),
        FORWARD,
    ),
    "pool_forward uses the height for the width": (
        ("pool_forward", "n_W = int(1 + (n_W_prev", "n_W = int(1 + (n_H_prev"),
        {"pool_forward/max", "pool_forward/average"},
    ),
    "pool_backward ignores the stride": (
        ("pool_backward", "vert_start = h * stride", "vert_start = h"),
        ("pool_backward", "horiz_start = w * stride", "horiz_start = w"),
        {"pool_backward/max", "pool_backward/average"},
    ),
    "distribute_value uses the height twice": (
        ("distribute_value", "dz / (n_H * n_W)", "dz / (n_H * n_H)"),
        {"distribute_value/output"},
    ),
}


def _source(bug: str) -> str:
    *edits, _ = BUGS[bug]
    source = CORRECT
    for function, old, new in edits:
        body = function_source(function, source)
        assert old in body, (bug, old)
        source = source.replace(body, body.replace(old, new))
    assert source != CORRECT
    return source


def _failed(report) -> set[str]:
    return set(fn_failed(report))  # the eight functions: these files hand in nothing else


@pytest.fixture(autouse=True)
def _needs_isolation(isolation):
    """These grade in the real sandbox."""


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_a_bug_the_labs_cases_miss_costs_its_exercise_under_the_full_scheme(bug, tmp_path):
    path = tmp_path / "student.py"
    path.write_text(_source(bug))
    lab = grade_submission(path, ROOMY, scheme="lab")
    assert lab.total == 70, lab.format_text()  # the lab's own cases do not see it
    full = grade_submission(path, ROOMY, scheme="full", seed=SEED)
    assert _failed(full) == BUGS[bug][-1], full.format_text()
    for check in full.checks:
        if not check.passed and check.max and check.part == "functions":
            assert check.reason.startswith(check.exercise.split("/")[0]), check.reason  # "conv_forward, ..."
            assert LAB_LABEL not in check.reason  # a hidden case, named in words
            assert "[" not in check.reason  # never an expected array
            assert check.hint


def test_a_correct_submission_and_the_references_get_70_in_both_schemes(tmp_path):
    path = tmp_path / "student.py"
    path.write_text(CORRECT)
    for scheme in ("lab", "full"):
        assert grade_submission(path, ROOMY, scheme=scheme, seed=SEED).total == 70
    import cnnlab.ops
    import cnnlab.ops.loops

    for module in (cnnlab.ops, cnnlab.ops.loops):
        for scheme in ("lab", "full"):
            assert grade_functions(vars(module), scheme=scheme, seed=SEED).total == 70


def test_the_reason_names_the_failing_hidden_case(tmp_path):
    path = tmp_path / "student.py"
    path.write_text(_source("conv_forward ignores the stride"))
    report = grade_submission(path, ROOMY, seed=SEED)
    reason = next(c.reason for c in report.checks if c.key == "conv_forward/output")
    # Its output-size formula uses the stride, so the shape is right and the values are not.
    assert reason == "conv_forward, stride 2, pad 0, 5x7 input: wrong values"


def test_tied_maxima_accept_the_labs_mask_and_the_first_maximum(tmp_path):
    lab_mask = CORRECT  # x == np.max(x): every tied maximum
    first = _with_bug(
        "create_mask_from_window",
        "mask = x == np.max(x)",
        "mask = np.zeros(x.shape, dtype=bool)\n    mask[np.unravel_index(np.argmax(x), x.shape)] = True",
    )
    wrong = _with_bug("create_mask_from_window", "mask = x == np.max(x)", "mask = x >= np.median(x)")
    for source, passes in ((lab_mask, True), (first, True), (wrong, False)):
        path = tmp_path / "student.py"
        path.write_text(source)
        report = grade_submission(path, ROOMY, seed=SEED)
        marks = {c.key: c.passed for c in report.checks}
        assert marks["create_mask_from_window/output"] is passes
        assert marks["pool_backward/max"] is passes


def test_the_hidden_cases_cover_what_the_issue_lists():
    chosen = cases("full", SEED)
    tags = {t for c in chosen for t in c.tags}
    assert {"stride", "pad0", "nonsquare", "f1", "fH", "overlap", "channels", "ties"} <= tags
    strides = {c.args[3]["stride"] for c in chosen if c.function == "conv_forward" and c.hidden}
    assert {2, 3} <= strides
    pools = [c for c in chosen if c.call == "pool_forward[average]" and c.hidden]
    assert any(c.args[1]["stride"] < c.args[1]["f"] for c in pools)
    assert any(c.args[1]["stride"] > 1 for c in pools)
    assert any(c.args[0].shape[1] != c.args[0].shape[2] for c in pools)
    assert set(HIDDEN) == {c.call for c in chosen}  # every call of the lab has hidden cases
    assert {c.call for c in chosen} == {check.call for check in CHECKS}


def test_hidden_values_come_from_the_seed_and_the_lab_scheme_is_the_labs_cases():
    a, b, c = cases("full", 1), cases("full", 1), cases("full", 2)
    hidden = [i for i, x in enumerate(a) if x.hidden]
    assert all(np.array_equal(a[i].args[0], b[i].args[0]) for i in hidden)
    assert any(not np.array_equal(a[i].args[0], c[i].args[0]) for i in hidden)
    assert [x.label for x in cases("lab")] == [LAB_LABEL] * len(cases("lab"))
