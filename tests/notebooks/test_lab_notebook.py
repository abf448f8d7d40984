"""notebooks/lab_cnn.ipynb runs top to bottom (quick mode); it and its student version grade as they should.

The notebook is executed headless with nbclient in the interpreter running the tests (the ``python3`` kernel
of the venv: jupyter_client starts a kernelspec whose command is ``python`` with ``sys.executable``).
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from cnnlab.cli import main
from cnnlab.grading.lab import CHECKS, FUNCTIONS

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "lab_cnn.ipynb"

pytestmark = pytest.mark.slow


def _texts(cell) -> str:
    """Everything a code cell printed or displayed as text."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif out["output_type"] in ("display_data", "execute_result"):
            parts.append(str(out["data"].get("text/plain", "")) + "\n")
    return "".join(parts)


def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("CNNLAB_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # plots as outputs
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's run directories
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    code = [c for c in nb.cells if c.cell_type == "code"]
    everything = "\n".join(_texts(c) for c in code)
    assert not [o for c in code for o in c.outputs if o["output_type"] == "error"]
    # the lab's printed values (its notebook, seed 2023; summation order may change the last bits)
    for name, lab in [
        ("Z", 17.154767154043057),
        ("Z's mean", 0.33376645114158293),
        ("dA_mean", 1.7587047105902995),
        ("dW_mean", -30.84696464944313),
        ("db_mean", 163.5455610593757),
        ("distributed value", 0.10204082),
    ]:
        printed = re.search(rf"^{name} = (\S+)", everything, re.M)
        assert printed, f"{name} not printed"
        assert float(printed[1]) == pytest.approx(lab, rel=1e-12 if name != "distributed value" else 1e-7)
    # exercise 8 as written never updates the dense weights
    assert "W_fc never changed: True" in everything
    # both backends build the lab's 548,258-parameter network, and both trained and were tested
    assert "parameters: 548258 (NumPy), 548258 (PyTorch)" in everything
    assert re.search(r"^numpy: test accuracy \d\.\d{3} on 32 images", everything, re.M)
    assert re.search(r"^torch: test accuracy \d\.\d{3} on 32 images", everything, re.M)
    # the marks: every `with marks` block passed and the grader gives every mark it can without the
    # photos (Part 2's accuracy needs --data): 90 / 90
    assert "✘" not in everything
    assert _texts(code[-1]).rstrip().endswith("90 / 90 marks")
    costs = re.search(r"^cost per step: \[(.+)\]", everything, re.M)  # exercise 8 with its own functions
    values = [float(v) for v in costs[1].split()]
    assert all(b < a for a, b in itertools.pairwise(values)), values
    assert "parameters: 548258\nlogits: (5, 2)" in everything  # the student's CNNClassifier
    pngs = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(pngs) >= 2  # the sample images and the loss plot


def _grade_json(path: Path, capsys) -> dict:
    capsys.readouterr()
    assert main(["grade", "--json", str(path)]) == 0
    return json.loads(capsys.readouterr().out)


def test_student_version_grades_zero_and_solutions_every_mark(tmp_path, capsys):
    student = tmp_path / "alice.ipynb"
    assert main(["student", str(NOTEBOOK), str(student)]) == 0

    full = _grade_json(NOTEBOOK, capsys)
    assert (full["total"], full["available"]) == (90, 90)  # Part 2's accuracy needs --data

    stubs = _grade_json(student, capsys)
    assert (stubs["total"], stubs["available"]) == (0, 90)
    marked = [c for c in stubs["checks"] if c["max"] and c["available"]]  # identity checks are worth 0
    assert len(marked) == len(CHECKS) + 6
    assert all("NotImplementedError" in c["reason"] for c in marked), marked

    # a student who has written one function gets exactly that exercise's marks
    notebook = json.loads(student.read_text())
    solutions = json.loads(NOTEBOOK.read_text())
    tagged = [i for i, c in enumerate(solutions["cells"]) if "solution" in c["metadata"].get("tags", [])]
    done = tagged[FUNCTIONS.index("distribute_value")]
    notebook["cells"][done]["source"] = solutions["cells"][done]["source"]
    student.write_text(json.dumps(notebook))
    partial = _grade_json(student, capsys)
    passed = {c["exercise"] for c in partial["checks"] if c["passed"]}
    assert (partial["total"], passed) == (5, {"distribute_value"})


def test_student_version_runs_and_shows_the_crosses(tmp_path, monkeypatch):
    """Part 1 of the student version and the final grading cell run without an error: the checks sit in
    ``with marks`` blocks, so a stub costs its marks and the notebook goes on."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("CNNLAB_NOTEBOOK_QUICK", "1")
    student = tmp_path / "student.ipynb"
    assert main(["student", str(NOTEBOOK), str(student)]) == 0
    nb = nbformat.read(student, as_version=4)
    part2 = next(i for i, c in enumerate(nb.cells) if c.source.startswith("## Part 2"))
    nb.cells = nb.cells[:part2] + nb.cells[-1:]  # Part 2 does not use the student's functions
    nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    everything = "\n".join(_texts(c) for c in code)
    assert "✓" not in everything
    # the notebook's own `with marks` blocks: 14 crosses, each first failure the stub's
    ledger = _texts(next(c for c in code if c.source == "summary()")).strip().splitlines()
    assert ledger[-1] == "0 / 70 marks" and len(ledger) == 1 + len(CHECKS)
    reasons = [re.fullmatch(r"✘ .+: 0 / 5 marks \((.+)\)", line)[1] for line in ledger[:-1]]
    assert {r.split(":")[0] for r in reasons} == {"NotImplementedError", "assertion failed"}
    assert all(r == "NotImplementedError" or r.endswith("failed (see above)") for r in reasons), reasons
    # the grader's report at the end
    report = _texts(code[-1]).strip().splitlines()
    assert report[-1] == "0 / 90 marks"  # the final cell grades all three parts (no photos: out of 90)
    assert all("NotImplementedError" in line for line in report[: len(CHECKS)]), report
