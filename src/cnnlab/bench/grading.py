"""Grader benchmark: a class of submissions with ``--jobs 2``, and what the isolation costs per student.

The class is made of the grader tests' student files (``tests/grading/submissions``: a correct solution
in loops, a buggy one, the notebook's stubs) copied into one folder, graded under the default ``full``
scheme exactly as ``cnnlab grade FOLDER --jobs 2`` does. The isolation cost is the time per submission
with bubblewrap + seccomp against a plain child process, measured alternately in one run. A class of
20 lab notebooks with ``--data --jobs 2`` (Part 2's training included) is timed in minutes per student.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from cnnlab.bench import row

SUBMISSIONS = Path(__file__).resolve().parents[3] / "tests" / "grading" / "submissions"
MIX = (("correct.py", 6), ("buggy.py", 3), ("stubs.py", 1))  # per ten students


def _pick(i: int) -> str:
    """The i-th student's file: six correct, three buggy, one stub in every ten."""
    k = i % 10
    for name, share in MIX:
        if k < share:
            return name
        k -= share
    return MIX[0][0]


def _class(folder: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        path = folder / f"student{i:03d}.py"
        shutil.copy(SUBMISSIONS / _pick(i), path)
        paths.append(path)
    return paths


def run(quick: bool = False) -> list[dict]:
    from cnnlab.grading import NO_ISOLATION, IsolationUnavailable, grade_submission, grade_submissions
    from cnnlab.grading.isolation import check_available
    from cnnlab.grading.roster import expand

    if not SUBMISSIONS.is_dir():
        return [row("grading", "class", None, "", note=f"skipped: no test submissions at {SUBMISSIONS}")]
    try:
        isolation = check_available()
    except IsolationUnavailable as exc:
        return [row("grading", "class", None, "", note=f"skipped: {exc}")]
    n = 20 if quick else 100
    rows = []
    with tempfile.TemporaryDirectory(prefix="cnnlab-bench-grade-") as tmp:
        _class(Path(tmp), n)
        start = time.perf_counter()
        entries = expand([Path(tmp)])  # as `cnnlab grade FOLDER --jobs 2` does, reading included
        paths = [e.path for e in entries]
        reports = grade_submissions(paths, jobs=2, scheme="full", isolation=isolation)
        elapsed = time.perf_counter() - start
        assert len(reports) == n
        target = 180.0 * n / 100
        rows.append(
            row(
                "grading",
                f"{n} submissions, --jobs 2, full scheme",
                elapsed,
                "s",
                f"< {target:g} s",
                elapsed < target,
                f"{elapsed / n:.2f} s per student",
            )
        )
        repeat = 3 if quick else 6
        times = {"isolated": 0.0, "plain": 0.0}
        for _ in range(repeat):
            for name, how in (("isolated", isolation), ("plain", NO_ISOLATION)):
                t0 = time.perf_counter()
                grade_submission(SUBMISSIONS / "correct.py", scheme="full", seed=1, isolation=how)
                times[name] += time.perf_counter() - t0
        ratio = times["isolated"] / times["plain"]
        note = f"{times['isolated'] / repeat:.2f} vs {times['plain'] / repeat:.2f} s per submission"
        rows.append(
            row("grading", "isolated / plain child process", ratio, "x", "<= 1.5", ratio <= 1.5, note)
        )
    rows.append(_with_data(isolation, 4 if quick else 20))
    return rows


def _with_data(isolation, n: int) -> dict:
    """``n`` copies of the lab notebook's solution graded with ``--data --jobs 2``: every part, Part 2's
    model trained in its sandbox with the lab's recipe (the Kaggle photos, or 557 random ones in their
    layout where the photos are absent)."""
    from cnnlab.bench.torch_train import real_photos, synthetic_photos
    from cnnlab.grading import grade_submissions
    from cnnlab.grading.part2 import load_part2_data, torch_available

    case = f"{n} lab notebooks, --data --jobs 2"
    if not torch_available():
        return row("grading", case, None, "", note="skipped: PyTorch is not installed")
    notebook = Path(__file__).resolve().parents[3] / "notebooks" / "lab_cnn.ipynb"
    with tempfile.TemporaryDirectory(prefix="cnnlab-bench-grade-data-") as tmp:
        photos = real_photos()
        which = "the Kaggle photos"
        if photos is None:
            photos, which = synthetic_photos(Path(tmp) / "photos"), "557 random photos"
        start = time.perf_counter()
        data = load_part2_data(photos)
        paths = []
        for i in range(n):
            path = Path(tmp) / f"student{i:02d}.ipynb"
            shutil.copy(notebook, path)
            paths.append(path)
        reports = grade_submissions(paths, jobs=2, scheme="full", isolation=isolation, data=data)
        elapsed = time.perf_counter() - start
    totals = sorted({f"{r.total}/{r.available}" for r in reports})
    per_student = elapsed / n / 60
    note = f"{elapsed / 60:.1f} min in all on {which}; marks {', '.join(totals)}"
    return row("grading", case, per_student, "min per student", "< 3", per_student < 3, note)
