"""The same marks on every supported NumPy: NumPy-1 idioms earn what their algorithm earns, with a note.

The course tells students to "cast b to a float()": on NumPy 2, ``float()`` of a (1, 1, 1) array raises,
and so does storing a size-1 array into one element of ``Z``. The worker runs such code as NumPy 1.26
does (:mod:`cnnlab.grading.worker.compat`) on every NumPy, and the report says what to write instead.
``test_reports_are_identical_on_numpy_1_and_2`` grades the same submissions with this environment's
NumPy 2 and with NumPy 1.26 (``make test`` builds ``.venv-np1``; set ``$CNNLAB_NUMPY1_PYTHON`` to use
another) and requires identical reports, the NumPy version field aside.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnlab.grading import grade_submission
from cnnlab.grading.worker import compat

from .conftest import CORRECT, ROOMY, SUBMISSIONS, function_source

ROOT = Path(__file__).resolve().parents[2]
SEED = 424242


def numpy1_style() -> str:
    """correct.py written the way the course's NumPy-1 students write it."""
    step = function_source("conv_single_step")
    old_style = (
        "def conv_single_step(a_slice_prev, W, b):\n"
        "    s = np.multiply(a_slice_prev, W)\n"
        "    Z = np.sum(s)\n"
        "    Z = Z + float(b)\n"
        "    return Z\n"
    )
    forward = function_source("conv_forward")
    # b[:, :, :, c] is (1, 1, 1): the lab's Z[i, h, w, c] = ... + b stores a size-1 array into one element
    forward_old = forward.replace(
        "Z[i, h, w, c] = conv_single_step(a_slice_prev, weights, biases)",
        "Z[i, h, w, c] = np.sum(a_slice_prev * weights) + biases",
    )
    mask = function_source("create_mask_from_window")
    mask_old = mask.replace("mask = x == np.max(x)", "mask = (x == np.max(x)).astype(np.float)")
    source = CORRECT.replace(step, old_style).replace(forward, forward_old).replace(mask, mask_old)
    assert source.count("float(b)") == 1 and "biases\n" in source and "np.float)" in source
    return source


@pytest.fixture(autouse=True)
def _needs_isolation(isolation):
    """These grade in the real sandbox."""


def test_numpy1_idioms_earn_their_marks_with_a_note(tmp_path):
    path = tmp_path / "old_style.py"
    path.write_text(numpy1_style())
    for scheme in ("lab", "full"):
        report = grade_submission(path, ROOMY, scheme=scheme, seed=SEED)
        assert report.total == 70, report.format_text()
        notes = "\n".join(report.notes)
        assert "float() of an array of shape (1, 1, 1): NumPy 2 refuses it" in notes
        assert "x.item()" in notes
        assert "stored into one element" in notes
        assert "np.float was removed in NumPy 1.24: write float" in notes


def test_the_compatibility_never_lets_a_wrong_answer_pass(tmp_path):
    # float() of a size-1 array is its single value, exactly what NumPy 1.26 gives: a wrong algorithm
    # that relies on it is still wrong, and float() of a bigger array still fails.
    wrong = CORRECT.replace("Z = Z + b.item()", "Z = Z + float(b) * 2")
    bigger = CORRECT.replace("Z = Z + b.item()", "Z = Z + float(W)")
    for source, reason in ((wrong, "wrong value"), (bigger, "TypeError")):
        path = tmp_path / "student.py"
        path.write_text(source)
        report = grade_submission(path, ROOMY, scheme="lab")
        step = next(c for c in report.checks if c.key == "conv_single_step/output")
        assert not step.passed and reason in step.reason, step.reason


def _run(tree_source: str) -> tuple[dict, list[str]]:
    notes = compat.Notes()
    namespace = {"np": np, **compat.make_helpers(notes)}
    tree = compat.transform(ast.parse(tree_source), "cell")
    exec(compile(tree, "cell", "exec"), namespace)
    return namespace, notes.take()


def test_the_helpers_behave_as_numpy_1_did():
    ns, notes = _run(
        "a = np.zeros(3)\n"
        "a[0] = np.array([[2.5]])\n"  # size-1 into one element
        "a[1:3] = np.array([7.0])\n"  # broadcast into a slice: unchanged, no note
        "a[2] += np.ones((1, 1))\n"
        "x = float(np.array([[[4.0]]]))\n"
        "y = int(np.array([3.7]))\n"
        "z = float(np.float64(1.5))\n"
        "t = np.float\n"
        "n = np.NaN\n"
    )
    assert ns["a"].tolist() == [2.5, 7.0, 8.0]
    assert (ns["x"], ns["y"], ns["z"], ns["t"]) == (4.0, 3, 1.5, float)
    assert np.isnan(ns["n"])
    assert len(notes) == 6, notes  # the slice assignment and float(np.float64) are fine on NumPy 2
    assert notes[0].startswith("cell, line 2: an array of shape (1, 1) stored into one element")


def test_shadowed_builtins_and_numpy_2_names_keep_their_meaning():
    ns, notes = _run(
        "def f(x):\n"
        "    slice = x[0:1]\n"  # a student's variable named slice
        "    y = np.zeros(3)\n"
        "    y[0:2] = slice\n"
        "    y[1:3] += 1\n"
        "    return y\n"
        "class K:\n"
        "    k = 2\n"
        "    a = np.zeros(2)\n"
        "    a[0] += k\n"  # a class-level name on the right of += (a lambda would not see it)
        "ok = isinstance(np.True_, np.bool)\n"
    )
    assert ns["f"](np.array([5.0, 6.0])).tolist() == [5.0, 6.0, 1.0]
    assert ns["K"].a.tolist() == [2.0, 0.0]
    assert ns["ok"] is True
    assert notes == ["cell, line 11: np.bool is missing in NumPy 1.24-1.26: write np.bool_ (or bool)"]


def test_the_workers_copy_of_the_lab_functions_is_the_labs():
    from cnnlab.grading.lab import FUNCTIONS
    from cnnlab.grading.worker.loader import LAB_FUNCTIONS

    assert set(FUNCTIONS) == LAB_FUNCTIONS  # the worker cannot import cnnlab, so it keeps a copy


def _numpy1_python() -> str | None:
    found = os.environ.get("CNNLAB_NUMPY1_PYTHON") or str(ROOT / ".venv-np1" / "bin" / "python")
    return found if Path(found).exists() else None


_GRADE = """
import json, sys
from pathlib import Path
import numpy
from cnnlab.grading import grade_submission, Limits
limits = Limits(timeout=20, total_timeout=120)
out = {"numpy": numpy.__version__, "reports": []}
for path in sys.argv[2:]:
    for scheme in ("lab", "full"):
        r = grade_submission(path, limits, scheme=scheme, seed=int(sys.argv[1]))
        d = r.to_dict()
        d.pop("numpy")
        # Part 2 is PyTorch code and the NumPy-1 environment has no PyTorch: the NumPy parts are compared
        d["checks"] = [c for c in d["checks"] if c["part"] != "part 2"]
        d["parts"].pop("part 2")
        d.pop("available"), d.pop("percentage")
        out["reports"].append(d)
print(json.dumps(out))
"""


def test_reports_are_identical_on_numpy_1_and_2(tmp_path):
    numpy1 = _numpy1_python()
    if numpy1 is None:
        if os.environ.get("CI"):
            pytest.fail("CI must grade on NumPy 1.26 too: make test builds .venv-np1")
        pytest.skip("no NumPy 1.26 environment (make test builds .venv-np1, or set CNNLAB_NUMPY1_PYTHON)")
    old = tmp_path / "old_style.py"
    old.write_text(numpy1_style())
    raising = tmp_path / "raising.py"  # errors whose wording NumPy 1.26 and 2.x would put differently
    raising.write_text(
        CORRECT.replace("Z = Z + b.item()", "Z = Z + float(W)")
        .replace("(n_H, n_W) = shape", "(n_H, n_W) = shape\n    {}[np.int64(3)]")
        .replace(
            "mask = x == np.max(x)", "mask = x == np.max(x)\n    raise ValueError(f'{np.float64(1.5)!r}')"
        )
    )
    names = ("correct.py", "buggy.py", "buggy.ipynb", "stubs.py")
    files = [str(old), *(str(SUBMISSIONS / n) for n in names), str(raising)]
    results = {}
    for python in (sys.executable, numpy1):
        done = subprocess.run(
            [python, "-c", _GRADE, str(SEED), *files],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        results[python] = json.loads(done.stdout)
    new, old_np = results[sys.executable], results[numpy1]
    assert new["numpy"].startswith("2.") and old_np["numpy"].startswith("1.26"), (
        new["numpy"],
        old_np["numpy"],
    )
    assert new["reports"] == old_np["reports"]
    assert [r["total"] for r in new["reports"]][:10] == [70, 70, 70, 70, 40, 40, 40, 40, 0, 0]
    reasons = " ".join(c["reason"] for c in new["reports"][-1]["checks"])
    assert "KeyError: 3" in reasons and "ValueError: 1.5" in reasons and "only one-element arrays" in reasons
