"""The stored expected answers: consistent with cnnlab's functions, and passed by the lab's printed numbers.

Two independent checks of ``expected.json``:
(a) it equals what ``make_expected`` recomputes from ``cnnlab.ops.loops`` and from ``cnnlab.ops``;
(b) the values the lab's notebook prints (issue 2, seed 2023) pass the grader's own checks against it, and
    the grader's inputs reproduce the lab's printed arrays -- so the lab is the oracle, not cnnlab.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import cnnlab.ops
import cnnlab.ops.loops
from cnnlab.grading import AVAILABLE, CHECKS, CheckFailed, check_hash, check_scalar, grade_functions
from cnnlab.grading.lab import CALLS_BY_NAME, EXERCISES, compute_expected, load_expected
from cnnlab.grading.make_expected import build, same_expected

# The lab's printed values (issue 2), np.random.seed(2023) before each case.
LAB_SINGLE_STEP = 17.154767154043057
LAB_CONV_MEAN = 0.33376645114158293
LAB_Z_3_2_1 = [4.1749337, 9.00045401, 1.79056239, -2.293963, -0.5189402, 10.78547069, 1.42173371, 13.11009042]
LAB_CONV_BACKWARD_MEANS = {"dA": 1.7587047105902995, "dW": -30.84696464944313, "db": 163.5455610593757}
LAB_POOL_BACKWARD_1_1 = {
    "max": [[1.24312631, 0.0], [0.0, -1.05329248], [-1.03592891, 0.0]],
    "average": [[0.31078158, 0.10580814], [0.30923847, -0.2046901], [-0.00154311, -0.31049824]],
}
LAB_DISTRIBUTE = 0.10204082  # distribute_value(5, (7, 7)) everywhere


def test_marks_add_up_to_the_labs_70():
    assert AVAILABLE == 70
    assert EXERCISES == {
        "zero_pad": 5,
        "conv_single_step": 5,
        "conv_forward": 15,
        "pool_forward": 10,
        "conv_backward": 15,
        "create_mask_from_window": 5,
        "distribute_value": 5,
        "pool_backward": 10,
    }
    assert len({c.key for c in CHECKS}) == len(CHECKS)


@pytest.mark.parametrize("module", [cnnlab.ops.loops, cnnlab.ops], ids=["loops", "vectorized"])
def test_stored_expected_values_equal_the_recomputed_ones(module):
    stored = load_expected()
    assert same_expected(stored, compute_expected(vars(module))) == []
    assert same_expected(stored, build()["checks"]) == []


def test_the_labs_printed_numbers_pass_the_scalar_checks():
    expected = load_expected()
    assert check_scalar(LAB_SINGLE_STEP, expected["conv_single_step/output"]["crc32"])
    assert check_scalar(LAB_CONV_MEAN, expected["conv_forward/mean"]["crc32"])
    for name, mean in LAB_CONV_BACKWARD_MEANS.items():
        assert check_scalar(mean, expected[f"conv_backward/{name}"]["mean_crc32"])
    with pytest.raises(CheckFailed):  # and a number off in the fifth digit does not
        check_scalar(LAB_CONV_MEAN * (1 + 3e-5), expected["conv_forward/mean"]["crc32"])


def test_the_labs_printed_arrays_pass_the_hash_checks():
    expected = load_expected()
    assert tuple(expected["zero_pad/output"]["shape"]) == (4, 7, 7, 2)  # the lab prints x_pad.shape
    entry = expected["distribute_value/output"]
    assert check_hash(np.full((7, 7), LAB_DISTRIBUTE), (entry["shape"], entry["hash"]))
    with pytest.raises(CheckFailed, match="wrong values"):  # dividing by one side only
        check_hash(np.full((7, 7), 5 / 7), (entry["shape"], entry["hash"]))


def test_the_graders_inputs_are_the_labs():
    args, _ = CALLS_BY_NAME["conv_forward"].make_inputs()
    Z, _ = cnnlab.ops.loops.conv_forward(*args)
    np.testing.assert_allclose(Z[3, 2, 1], LAB_Z_3_2_1, atol=1e-7)
    assert np.mean(Z) == pytest.approx(LAB_CONV_MEAN, rel=1e-12)
    args, _ = CALLS_BY_NAME["conv_backward"].make_inputs()
    dA, dW, db = cnnlab.ops.loops.conv_backward(*args)
    for name, grad in {"dA": dA, "dW": dW, "db": db}.items():
        assert np.mean(grad) == pytest.approx(LAB_CONV_BACKWARD_MEANS[name], rel=1e-12)
    for mode, printed in LAB_POOL_BACKWARD_1_1.items():
        args, _ = CALLS_BY_NAME[f"pool_backward[{mode}]"].make_inputs()
        dA_prev = cnnlab.ops.loops.pool_backward(*args)
        np.testing.assert_allclose(dA_prev[1, 1], printed, atol=1e-8)
    args, _ = CALLS_BY_NAME["conv_single_step"].make_inputs()
    assert cnnlab.ops.loops.conv_single_step(*args) == pytest.approx(LAB_SINGLE_STEP, rel=1e-14)


@pytest.mark.parametrize("module", [cnnlab.ops.loops, cnnlab.ops], ids=["loops", "vectorized"])
def test_cnnlab_functions_get_70_in_process(module):
    report = grade_functions(vars(module))
    assert report.total == 70, report.format_text()


def test_in_process_grading_names_missing_and_broken_functions():
    functions = dict(vars(cnnlab.ops))
    del functions["zero_pad"]
    functions["distribute_value"] = lambda dz, shape: np.full(shape, dz / shape[0])
    functions["conv_backward"] = lambda dZ, cache: (None, None)
    report = grade_functions(functions, parts=["functions"])
    failed = {c.key: c.reason for c in report.checks if not c.passed}
    assert failed == {
        "zero_pad/output": "missing: zero_pad is not defined",
        "distribute_value/output": "wrong values",
        "conv_backward/dA": "returned a tuple of 2, expected (dA_prev, dW, db)",
        "conv_backward/dW": "returned a tuple of 2, expected (dA_prev, dW, db)",
        "conv_backward/db": "returned a tuple of 2, expected (dA_prev, dW, db)",
    }
    assert report.total == 70 - 5 - 5 - 15


def test_make_expected_check_notices_a_stale_file(tmp_path, capsys):
    from cnnlab.grading.lab import EXPECTED_PATH
    from cnnlab.grading.make_expected import main

    stale = tmp_path / "expected.json"
    data = json.loads(EXPECTED_PATH.read_text())
    stale.write_text(json.dumps(data))
    assert main(["--check", "--out", str(stale)]) == 0
    data["checks"]["pool_backward/max"]["hash"] += 1e-3
    stale.write_text(json.dumps(data))
    assert main(["--check", "--out", str(stale)]) == 1
    assert "pool_backward/max" in capsys.readouterr().err
    assert main(["--out", str(stale)]) == 0  # rewriting fixes it
    assert main(["--check", "--out", str(stale)]) == 0
