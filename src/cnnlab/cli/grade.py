"""``cnnlab grade``: the lab's auto-grader for students' ``.py`` / ``.ipynb`` files (70 marks).

One submission: one line per check (exercise, ✓/✘, marks, the reason for a failure), then ``N / 70 marks``.
Several (paths, or a folder of ``.py`` / ``.ipynb`` files): a CSV of marks per student on stdout, or in the
file given with ``--csv`` (then stdout gets one total per student). ``--json`` prints
``{"total", "available", "checks": [{"exercise", "check", "marks", "max", "passed", "reason"}], ...}`` (a
list of those for several). ``--reference`` grades cnnlab's own functions, loops and vectorized: 70/70.
Every submission runs in its own sandboxed process (see :mod:`cnnlab.grading.sandbox`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cnnlab.cli.app import app

REFERENCE_MODULES = ("cnnlab.ops.loops", "cnnlab.ops")


def _expand(paths: list[Path]) -> list[Path]:
    from cnnlab.grading.submission import SUFFIXES, SubmissionError

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.suffix in SUFFIXES and p.is_file() and not p.name.startswith(".")
            )
            if not found:
                raise SubmissionError(f"{path}: no .py or .ipynb files in this folder")
            files += found
        else:
            files.append(path)
    return files


def _names(files: list[Path]) -> list[str]:
    """Student names: the file stem, or the file name / path where stems collide."""
    stems = [f.stem for f in files]
    names = [f.name if stems.count(f.stem) > 1 else f.stem for f in files]
    return [str(f) if names.count(n) > 1 else n for f, n in zip(files, names, strict=True)]


def _csv(reports: list, out) -> None:
    import csv

    from cnnlab.grading import CHECKS

    writer = csv.writer(out)
    writer.writerow(["student", "submission", "total", "available", *[c.key for c in CHECKS], "problems"])
    for r in reports:
        marks = {c.key: c.marks for c in r.checks}
        row = [r.student, r.submission, r.total, r.available, *[marks.get(c.key, 0) for c in CHECKS]]
        writer.writerow([*row, " | ".join(r.problems)])


@app.command(
    "grade",
    epilog="Examples:  cnnlab grade alice.ipynb  |  cnnlab grade submissions/ --csv marks.csv  |  "
    "cnnlab grade bob.py --json --timeout 5  |  cnnlab grade --reference",
)
def grade(
    submissions: Annotated[
        list[Path] | None,
        typer.Argument(help="Students' .py or .ipynb files, or folders of them.", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the marks as JSON.")] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds allowed for one call of a function.", min=0.1)
    ] = 10.0,
    total_timeout: Annotated[
        float, typer.Option(help="Seconds allowed for one whole submission.", min=1.0)
    ] = 120.0,
    memory: Annotated[
        int, typer.Option(help="Memory limit of a submission's process, in MiB.", min=256)
    ] = 2048,
    reference: Annotated[
        bool, typer.Option("--reference", help="Grade cnnlab's own functions (loops and vectorized).")
    ] = False,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Write the marks per student to this CSV file.")
    ] = None,
    jobs: Annotated[int, typer.Option(help="Submissions graded at the same time.", min=1)] = 1,
) -> None:
    """Grade the lab's eight functions in students' files: 15 checks, 70 marks, each in a sandbox."""
    from cnnlab.grading import Limits, grade_submissions, reference_submission

    if not submissions and not reference:
        raise typer.BadParameter("give a .py or .ipynb file, a folder of them, or --reference")
    limits = Limits(timeout=timeout, total_timeout=max(total_timeout, timeout), memory_mb=memory)
    reports = []
    if submissions:
        files = _expand(list(submissions))
        # One file that cannot be read is an error; among several it is a student with 0 marks.
        unreadable = "report" if len(files) > 1 else "raise"
        reports += grade_submissions(files, limits, jobs=jobs, names=_names(files), unreadable=unreadable)
    if reference:
        refs = [reference_submission(m) for m in REFERENCE_MODULES]
        reports += grade_submissions(
            refs, limits, jobs=jobs, names=list(REFERENCE_MODULES), allow_cnnlab=True
        )
    several = len(reports) > 1

    if csv_out is not None:
        with open(csv_out, "w", newline="", encoding="utf-8") as fh:
            _csv(reports, fh)
    if as_json:
        data = [r.to_dict() for r in reports]
        print(json.dumps(data if several else data[0], indent=2, ensure_ascii=False))
    elif several and not reference:
        if csv_out is None:
            _csv(reports, sys.stdout)
        else:
            for r in reports:
                print(f"{r.student}: {r.total} / {r.available} marks")
            print(f"wrote {csv_out}")
    else:
        for i, r in enumerate(reports):
            if several:
                print(("\n" if i else "") + f"== {r.student} ==")
            print(r.format_text())
