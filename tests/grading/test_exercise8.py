"""Exercise 8's grading: cnnlab's gradients against numerical ones, and one bug -> that check only."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.grading import grade_functions, grade_submission
from cnnlab.grading.exercise8 import CHECKS, ex8_cases
from cnnlab.nn import lab_exercise8 as ref
from cnnlab.ops import loops

SEED = 11
ALL = {f"backward_propagation/{g}" for g in ("dW1", "db1", "dW_fc", "db_fc")} | {
    "update_parameters/update",
    "update_parameters/training",
}

CORRECT = """
def backward_propagation(A_last, Y, caches):
    conv_cache, Z1, pool_cache, P1, F, W_fc = caches
    m = A_last.shape[0]
    dZ2 = (A_last - Y) / m
    dW_fc = F.T @ dZ2
    db_fc = np.sum(dZ2, axis=0, keepdims=True)
    dP1 = (dZ2 @ W_fc.T).reshape(P1.shape)
    dA1 = pool_backward(dP1, pool_cache, "max")
    dZ1 = dA1 * (Z1 > 0)
    _, dW1, db1 = conv_backward(dZ1, conv_cache)
    return {"dW1": dW1, "db1": db1, "dW_fc": dW_fc, "db_fc": db_fc}


def update_parameters(parameters, gradients, learning_rate):
    for key in ("W1", "b1", "W_fc", "b_fc"):
        parameters[key] = parameters[key] - learning_rate * gradients["d" + key]
    return parameters
"""

#: one bug each -> (the text replaced, its replacement, the checks it must lose)
BUGS = {
    "dW_fc without the 1/m": (
        "dW_fc = F.T @ dZ2",
        "dW_fc = F.T @ (A_last - Y)",
        {"backward_propagation/dW_fc"},
    ),
    "the lab's == update": (
        '        parameters[key] = parameters[key] - learning_rate * gradients["d" + key]',
        '        if key == "W_fc":\n'
        '            parameters[key] == parameters[key] - learning_rate * gradients["dW_fc"]\n'
        '        else:\n            parameters[key] = parameters[key] - learning_rate * gradients["d" + key]',
        {"update_parameters/update"},  # the biases and W1 still move: the cost still goes down
    ),
    "a missing key": (
        'return {"dW1": dW1, "db1": db1, "dW_fc": dW_fc, "db_fc": db_fc}',
        'return {"dW1": dW1, "db1": db1, "dW_fc": dW_fc}',
        {"backward_propagation/db_fc"},
    ),
    "the lab's second softmax derivative": (
        "dZ2 = (A_last - Y) / m",
        "dZ2 = (A_last - Y) / m * A_last * (1 - A_last)",
        {f"backward_propagation/{g}" for g in ("dW1", "db1", "dW_fc", "db_fc")},
    ),
    "ascent instead of descent": (
        "parameters[key] - learning_rate",
        "parameters[key] + learning_rate",
        {"update_parameters/update", "update_parameters/training"},
    ),
    "steps too small to learn": (
        "parameters[key] - learning_rate * gradients",
        "parameters[key] - 1e-9 * gradients",
        {"update_parameters/update", "update_parameters/training"},
    ),
    "a hard-coded 9x9x16 reshape": (
        "reshape(P1.shape)",
        "reshape(m, 9, 9, 16)",
        # the 12x12 hidden case only; the call fails there, so all four gradients go
        {f"backward_propagation/{g}" for g in ("dW1", "db1", "dW_fc", "db_fc")},
    ),
}


def _namespace(source: str) -> dict:
    namespace = {"np": np, "pool_backward": loops.pool_backward, "conv_backward": loops.conv_backward}
    exec(compile(source, "student.py", "exec"), namespace)
    return namespace


def _failed(report) -> set[str]:
    return {c.key for c in report.checks if c.part == "exercise 8" and not c.passed}


def test_the_marks_add_up_to_the_labs_20():
    assert sum(m for _, m in CHECKS) == 20
    report = grade_functions(_namespace(CORRECT), parts=["exercise 8"], scheme="full", seed=SEED)
    assert {c.key for c in report.checks} == ALL
    assert report.total == report.available == 20, report.format_text()


@pytest.mark.parametrize("scheme", ["lab", "full"])
def test_cnnlabs_gradients_are_the_numerical_gradients_of_the_cost(scheme):
    # the oracle behind the four gradient checks: centred differences of compute_cost, on every case
    rs = np.random.RandomState(0)
    for case in ex8_cases(scheme, SEED):
        A_last, caches = ref.forward_propagation(case.X, case.parameters)
        grads = ref.backward_propagation(A_last, case.Y, caches)
        for key, value in case.parameters.items():
            g = grads["d" + key]
            assert g.shape == value.shape
            for idx in [tuple(rs.randint(0, n) for n in value.shape) for _ in range(6)]:
                h = 1e-6
                plus = {k: v.copy() for k, v in case.parameters.items()}
                minus = {k: v.copy() for k, v in case.parameters.items()}
                plus[key][idx] += h
                minus[key][idx] -= h
                cp = ref.compute_cost(ref.forward_propagation(case.X, plus)[0], case.Y)
                cm = ref.compute_cost(ref.forward_propagation(case.X, minus)[0], case.Y)
                numeric = (cp - cm) / (2 * h)
                assert numeric == pytest.approx(g[idx], rel=1e-5, abs=1e-9), (case.label, key, idx)


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_one_bug_costs_its_check_only(bug):
    old, new, loses = BUGS[bug]
    assert old in CORRECT
    source = CORRECT.replace(old, new)
    full = grade_functions(_namespace(source), parts=["exercise 8"], scheme="full", seed=SEED)
    assert _failed(full) == loses, full.format_text()
    marks = dict(CHECKS)
    assert full.total == 20 - sum(marks[k.split("/")[1]] for k in loses)
    for c in full.checks:
        if not c.passed:
            assert c.reason and c.hint and "[" not in c.reason  # a reason in words, never an array


def test_the_lab_scheme_misses_what_only_a_hidden_case_shows():
    old, new, _ = BUGS["a hard-coded 9x9x16 reshape"]
    lab = grade_functions(_namespace(CORRECT.replace(old, new)), parts=["exercise 8"], scheme="lab")
    assert lab.total == 20, lab.format_text()


def test_a_missing_function_names_itself():
    report = grade_functions({"np": np}, parts=["exercise 8"])
    reasons = {c.key: c.reason for c in report.checks}
    assert reasons["backward_propagation/dW1"] == "missing: backward_propagation is not defined"
    assert reasons["update_parameters/training"] == "missing: update_parameters is not defined"


def test_in_the_sandbox_the_same_bugs_cost_the_same(isolation, tmp_path):
    # the lab notebook's eight functions (its solution cells), then exercise 8 with one bug
    import json
    from pathlib import Path

    notebook = Path(__file__).parents[2] / "notebooks" / "lab_cnn.ipynb"
    cells = json.loads(notebook.read_text())["cells"]
    functions = [
        "".join(c["source"])
        for c in cells
        if "solution" in c["metadata"].get("tags", []) and "backward_propagation" not in "".join(c["source"])
    ][:8]
    header = "import numpy as np\n\n" + "\n\n".join(functions) + "\n\n"
    for bug in ("the lab's == update", "a missing key"):
        old, new, loses = BUGS[bug]
        path = tmp_path / f"{bug.replace(' ', '_')}.py"
        path.write_text(header + CORRECT.replace(old, new))
        report = grade_submission(path, scheme="full", seed=SEED)
        assert _failed(report) == loses, report.format_text()
        assert report.parts()["functions"] == (70, 70)
