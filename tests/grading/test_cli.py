"""``cnnlab grade``, run as the installed command in a subprocess."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SUBMISSIONS = Path(__file__).parent / "submissions"
CNNLAB = str(Path(sys.executable).with_name("cnnlab"))


@pytest.fixture(autouse=True)
def _needs_isolation(isolation):
    """``cnnlab grade`` refuses to run student code without isolation: these tests need bubblewrap."""


def cnnlab(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([CNNLAB, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_one_submission_prints_a_line_per_check_and_the_total():
    result = cnnlab("grade", str(SUBMISSIONS / "buggy.py"), "--scheme", "lab")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # 14 checks of the functions, 6 of exercise 8, 4 of Part 2, a subtotal after each part, 2 identity
    # checks, the total (buggy.py hands in the eight functions only; no --data: out of 90)
    assert len(lines) == 14 + 1 + 6 + 1 + 4 + 1 + 2 + 1 + 1 and lines[-1] == "40 / 90 marks"
    assert lines[-2].startswith("graded: scheme lab; isolation bubblewrap")
    assert lines[0].split() == ["zero_pad", "output", "✓", "5/5"]
    assert lines[1].split() == ["conv_single_step", "output", "✘", "0/5", "wrong", "value"]
    assert lines[14].split() == ["=", "functions:", "40", "/", "70"]
    assert lines[15].split()[:5] == ["backward_propagation", "dW1", "✘", "0/4", "missing:"]
    assert lines[21].split() == ["=", "exercise", "8:", "0", "/", "20"]
    assert lines[25].split()[:4] == ["CNNClassifier", "accuracy", "-", "-/10"]  # not graded without --data
    assert lines[26].split() == ["=", "part", "2:", "0", "/", "0", "(+10", "not", "graded", "here)"]
    assert lines[27].split()[:4] == ["identity", "carne", "✘", "0/0"]


def test_json_output():
    args = ("grade", str(SUBMISSIONS / "hostile_segfault.py"), "--json", "--timeout", "2", "--seed", "5")
    result = cnnlab(*args)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["total"], data["available"], data["percentage"]) == (10, 90, 11.1)
    assert data["parts"]["functions"] == {"marks": 10, "available": 70}
    assert data["parts"]["part 2"] == {"marks": 0, "available": 0}  # accuracy: not run without --data
    assert (data["scheme"], data["seed"]) == ("full", 5)
    assert data["isolation"].startswith("bubblewrap") and data["numpy"] and data["grader"]
    first = data["checks"][0]
    assert set(first) == {"exercise", "check", "marks", "max", "passed", "reason", "hint", "part"} | {
        "available",
        "detail",
    }
    assert {k: v for k, v in first.items() if k not in ("hint", "part", "available", "detail")} == {
        "exercise": "zero_pad",
        "check": "output",
        "marks": 0,
        "max": 5,
        "passed": False,
        "reason": "zero_pad, the lab's case: crashed: segmentation fault (SIGSEGV)",
    }


def test_reference_gets_every_mark_twice():
    result = cnnlab("grade", "--reference")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("90 / 90 marks") == 2  # Part 2's accuracy needs --data
    assert "== cnnlab.ops.loops ==" in result.stdout and "== cnnlab.ops ==" in result.stdout
    assert "✘" not in result.stdout


def test_a_folder_gives_a_csv_of_marks_per_student(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("correct.py", "buggy.ipynb", "stubs.py"):
        shutil.copy(SUBMISSIONS / name, folder / name)
    (folder / "notes.txt").write_text("not a submission")
    (folder / "broken.ipynb").write_text("{not json")
    out = tmp_path / "marks.csv"
    result = cnnlab("grade", str(folder), "--csv", str(out), "--jobs", "2", "--scheme", "lab")
    assert result.returncode == 0, result.stderr
    rows = {row["student"]: row for row in csv.DictReader(out.open())}
    totals = {k: int(v["total"]) for k, v in rows.items()}
    assert totals == {"broken": 0, "buggy": 40, "correct": 70, "stubs": 0}
    assert rows["buggy"]["conv_single_step/output"] == "0" and rows["buggy"]["zero_pad/output"] == "5"
    assert "not a Jupyter notebook" in rows["broken"]["problems"]
    assert "buggy: 40 / 90 marks" in result.stdout.splitlines()
    assert rows["buggy"]["functions"] == "40" and rows["buggy"]["exercise 8"] == "0"
    assert rows["buggy"]["CNNClassifier/accuracy"] == ""  # not available without --data
    # Without --csv, the CSV goes to stdout.
    result = cnnlab("grade", str(folder / "correct.py"), str(folder / "stubs.py"))
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert [(r["student"], r["total"]) for r in rows] == [("correct", "70"), ("stubs", "0")]


def test_errors_are_one_line():
    result = cnnlab("grade", "no-such-file.py")
    assert result.returncode == 1
    assert result.stderr.strip() == "cnnlab: error: no-such-file.py: no such file"
    result = cnnlab("grade")
    assert result.returncode != 0 and "--reference" in result.stderr


def test_a_bad_output_path_is_refused_before_anything_is_graded(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    result = cnnlab("grade", str(SUBMISSIONS / "correct.py"), "--feedback", str(not_a_folder / "fb"))
    assert result.returncode != 0 and result.stdout == ""  # no report: it stopped before grading
    assert result.stderr.count("\n") == 1 and "cannot write feedback pages" in result.stderr
    result = cnnlab("grade", str(SUBMISSIONS / "correct.py"), "--csv", str(tmp_path / "nope" / "m.csv"))
    assert result.returncode != 0 and "is not a folder" in result.stderr
