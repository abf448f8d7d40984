"""Grading a class as an instructor receives it: student folders, pairs, feedback pages, a safe CSV."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnlab.grading import grade_submission
from cnnlab.grading.report import clean, csv_cell
from cnnlab.grading.roster import expand

from .conftest import CORRECT, FAST, SUBMISSIONS

CNNLAB = str(Path(sys.executable).with_name("cnnlab"))
IDENTITY = (
    'carne_1 = "20231"\nfirma_mecanografiada_1 = "Ana Pérez"\n'
    'carne_2 = "20232"\nfirma_mecanografiada_2 = "Luis Gómez"\n'
)


def cnnlab(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([CNNLAB, *args], capture_output=True, text=True, timeout=300, env=env)


def notebook(path: Path, *cells: str) -> Path:
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": c} for c in cells]}
    path.write_text(json.dumps({**nb, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_a_folder_of_student_folders_grades_as_a_class(tmp_path):
    subs = tmp_path / "subs"
    (subs / "alice").mkdir(parents=True)
    notebook(subs / "alice" / "lab.ipynb", CORRECT)
    (subs / "bob" / "work").mkdir(parents=True)
    (subs / "bob" / "work" / "lab.py").write_text((SUBMISSIONS / "buggy.py").read_text())
    (subs / "bob" / "helper.py").write_text("def unrelated():\n    return 1\n")
    (subs / "bob" / ".ipynb_checkpoints").mkdir()
    notebook(subs / "bob" / ".ipynb_checkpoints" / "lab-checkpoint.ipynb", CORRECT)  # ignored
    (subs / "carol").mkdir()
    (subs / "dave.py").write_text(CORRECT)
    entries = {e.name: e for e in expand([subs])}
    assert set(entries) == {"alice", "bob", "carol", "dave"}
    assert entries["bob"].path.name == "lab.py"  # defines the lab's functions; helper.py does not
    assert "graded work/lab.py" in entries["bob"].warnings[0] and "helper.py" in entries["bob"].warnings[0]
    assert entries["carol"].path is None and "no .py or .ipynb" in entries["carol"].missing

    out = tmp_path / "marks.csv"
    result = cnnlab("grade", str(subs), "--csv", str(out), "--jobs", "2", "--scheme", "lab")
    assert result.returncode == 0, result.stderr
    rows = {r["student"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert {k: int(v["total"]) for k, v in rows.items()} == {"alice": 70, "bob": 40, "carol": 0, "dave": 70}
    # the eight functions only, without --data: out of 90 (exercise 8 is missing)
    assert rows["alice"]["percentage"] == "77.8" and rows["bob"]["percentage"] == "44.4"
    assert rows["alice"]["functions"] == "70" and rows["alice"]["exercise 8"] == "0"
    assert {r["scheme"] for r in rows.values()} == {"lab"}
    assert all(r["numpy"] and r["grader"] and r["isolation"].startswith("bubblewrap") for r in rows.values())


def test_a_pair_gets_one_row_each_with_the_pairs_marks(tmp_path):
    path = notebook(tmp_path / "pair.ipynb", IDENTITY, CORRECT)
    report = grade_submission(path, FAST, scheme="lab")
    identity = {c.check: c for c in report.checks if c.exercise == "identity"}
    assert identity["carne"].passed and identity["firma"].passed
    assert [(m.carne, m.name) for m in report.members] == [("20231", "Ana Pérez"), ("20232", "Luis Gómez")]
    out = tmp_path / "marks.csv"
    feedback = tmp_path / "feedback"
    result = cnnlab(
        "grade", str(path), str(SUBMISSIONS / "stubs.py"), "--csv", str(out), "--feedback", str(feedback)
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["student"], r["carne"], r["total"]) for r in rows] == [
        ("Ana Pérez", "20231", "70"),
        ("Luis Gómez", "20232", "70"),
        ("stubs", "", "0"),  # no identity cells: the file's name
    ]
    pages = sorted(p.name for p in feedback.iterdir())  # named by what it was handed in as, then the carné
    assert pages == ["pair_20231.html", "pair_20232.html", "stubs.html"]
    assert {r["handed_in_as"] for r in rows} == {"pair", "stubs"}
    page = (feedback / "stubs.html").read_text(encoding="utf-8")
    assert "0 / 90 marks" in page and "NotImplementedError" in page and "np.pad(X" in page  # reason + hint


def test_the_identity_checks_follow_the_labs_rules(tmp_path):
    path = notebook(tmp_path / "short.ipynb", 'carne_1 = "123"\nfirma_mecanografiada_1 = ""\n', CORRECT)
    report = grade_submission(path, FAST, scheme="lab")
    identity = {c.check: c for c in report.checks if c.exercise == "identity"}
    assert not identity["carne"].passed and "carne_1 and carne_2" in identity["carne"].reason
    assert not identity["firma"].passed and identity["firma"].max == 0
    assert report.total == 70  # worth nothing, as in the lab


def test_scaffolding_imports_cost_nothing_and_are_never_the_reason(tmp_path):
    source = (
        "from public_tests import *\nimport h5py\nfrom test_utils import check\nimport jhwutils\n" + CORRECT
    )
    source = source.replace("def distribute_value(dz, shape):", "def distribute_valu(dz, shape):")
    path = tmp_path / "student.py"
    path.write_text(source)
    report = grade_submission(path, FAST, scheme="lab")
    assert report.problems == []
    assert len(report.skipped) == 4 and "h5py" in " ".join(report.skipped)
    reasons = {c.key: c.reason for c in report.checks if not c.passed and c.max}
    assert reasons["distribute_value/output"] == "missing: distribute_value is not defined"
    assert report.total == 60  # pool_backward average calls the missing function


def test_csv_cells_and_text_are_safe(tmp_path):
    assert csv_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert [csv_cell(v) for v in ("+1", "-1", "@a", "\tx", "ok", 5)] == [
        "'+1",
        "'-1",
        "'@a",
        "\\x09x",  # a tab is escaped, so nothing is left to quote
        "ok",
        5,
    ]
    assert clean("a\x1b[2Jb\u202ec\nd") == "a\\x1b[2Jb\\u202ec\\x0ad"
    evil = tmp_path / '=HYPERLINK("evil")'
    evil.mkdir()
    (evil / "lab.py").write_text(CORRECT)
    out = tmp_path / "marks.csv"
    result = cnnlab(
        "grade", str(tmp_path / "nothing.py"), str(tmp_path), "--csv", str(out), "--scheme", "lab"
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert "\n=" not in text and ",=" not in text
    rows = {r["student"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert rows['\'=HYPERLINK("evil")']["total"] == "70"


def test_without_isolation_the_grader_refuses_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PATH"}
    env["PATH"] = str(tmp_path)  # no bwrap here
    result = cnnlab("grade", str(SUBMISSIONS / "correct.py"), env=env)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "bubblewrap is not installed" in result.stderr
    assert "--no-isolation" in result.stderr
    # A sandbox that cannot start (namespaces forbidden in a container): said, not hung.
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    env["PATH"] = f"{tmp_path}:/usr/bin:/bin"
    result = cnnlab("grade", str(SUBMISSIONS / "correct.py"), env=env)
    assert result.returncode == 1 and "No permissions to create new namespace" in result.stderr
    assert "--no-isolation" in result.stderr
    # Asked for, grading without isolation works and says so.
    result = cnnlab("grade", str(SUBMISSIONS / "correct.py"), "--no-isolation", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["isolation"] == "none (--no-isolation)"


@pytest.fixture(autouse=True)
def _needs_isolation(isolation):
    """These grade in the real sandbox."""


def test_links_in_a_class_folder_are_not_followed(tmp_path):
    subs = tmp_path / "subs"
    (subs / "eve").mkdir(parents=True)
    (subs / "bob").mkdir()
    (subs / "bob" / "lab.py").write_text(CORRECT)
    (subs / "eve" / "lab.py").symlink_to(subs / "bob" / "lab.py")  # hands in bob's work
    (subs / "eve" / "loop").symlink_to(subs / "eve", target_is_directory=True)
    (subs / "mallory.py").symlink_to(subs / "bob" / "lab.py")
    entries = {e.name: e for e in expand([subs])}
    assert set(entries) == {"bob", "eve"}
    assert entries["eve"].path is None and "no .py or .ipynb" in entries["eve"].missing


def test_odd_files_in_a_class_cost_their_student_only(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "good.py").write_text(CORRECT)
    (subs / "mallory").mkdir()
    (subs / "mallory" / "a.py").write_text(CORRECT)
    (subs / "mallory" / "b.py").write_text("carne_1 = 0x" + "f" * 4000 + "\n")  # str() of it refuses
    deep = subs / "trent"
    for _ in range(60):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "lab.py").write_text(CORRECT)
    (subs / "huge_int.ipynb").write_text('{"cells": [], "n": ' + "9" * 5000 + "}")
    (subs / "slow.py").write_text("x = (\n" * 20000)
    os.makedirs(subs / "eve")
    (subs / "eve" / os.fsdecode(b"0\xff.py")).write_text(CORRECT)  # not UTF-8
    out = tmp_path / "marks.csv"
    result = cnnlab(
        "grade",
        str(subs),
        "--csv",
        str(out),
        "--jobs",
        "2",
        "--scheme",
        "lab",
        "--feedback",
        str(tmp_path / "fb"),
    )
    assert result.returncode == 0, result.stderr
    rows = {r["student"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    totals = {k: int(v["total"]) for k, v in rows.items()}
    assert totals == {"eve": 70, "good": 70, "huge_int": 0, "mallory": 70, "slow": 0, "trent": 0}
    assert "not a Jupyter notebook" in rows["huge_int"]["problems"]
    assert "\\udcff" in rows["eve"]["submission"]  # the odd byte, escaped
    assert len(rows["slow"]["problems"]) < 2000
    assert len(list((tmp_path / "fb").iterdir())) == 6


def test_a_carne_claimed_twice_is_flagged(tmp_path):
    notebook(tmp_path / "alice.ipynb", IDENTITY, CORRECT)
    notebook(tmp_path / "mallory.ipynb", IDENTITY)
    result = cnnlab("grade", str(tmp_path), "--json", "--scheme", "lab")
    reports = {r["student"]: r for r in json.loads(result.stdout)}
    assert any(
        "carné 20231 is claimed by 2 submissions: alice, mallory" in w for w in reports["mallory"]["warnings"]
    )
    assert reports["alice"]["warnings"] == reports["mallory"]["warnings"]
