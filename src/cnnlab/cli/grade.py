"""``cnnlab grade``: the lab's auto-grader for students' ``.py`` / ``.ipynb`` files (100 marks).

The eight functions (70 marks), exercise 8 (20) and Part 2 (10: the ``CNNClassifier`` trained with the
lab's recipe on ``--data``'s photos; without ``--data`` it is not graded and totals read N / 90).
One submission: one line per check (exercise, ✓/✘, marks, the reason for a failure), a subtotal per
part, then ``N / M marks``.
Several (paths, a folder of files, or a folder of student folders): a CSV of marks per student on stdout,
or in the file given with ``--csv`` (then stdout gets one total per student). ``--json`` prints the whole
report (a list for several). ``--feedback DIR`` writes one HTML page per student. ``--scheme lab`` marks
the lab's visible cases only; the default ``full`` adds hidden cases drawn from ``--seed`` (fresh when
not given, and recorded). ``--reference`` grades cnnlab's own answers (loops, then vectorized): 90/90.
Every submission runs in an isolated worker (see :mod:`cnnlab.grading.isolation`); where isolation is not
available the command refuses, unless ``--no-isolation`` is given.
"""

from __future__ import annotations

import json
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cnnlab.cli.app import app

REFERENCE_MODULES = ("cnnlab.ops.loops", "cnnlab.ops")


class Scheme(StrEnum):
    full = "full"
    lab = "lab"


def _safe_filename(name: str) -> str:
    stem = re.sub(r"[^\w.-]+", "_", name, flags=re.UNICODE).strip("._") or "student"
    return stem[:80]


def _write_feedback(reports: list, folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    written: set[str] = set()
    for r in reports:
        for student, carne in r.rows():
            # The name it was handed in under first: a carné in the file is the student's own claim.
            base = _safe_filename(f"{r.student}_{carne}" if carne and r.student != student else r.student)
            name, k = base, 2
            while name in written:
                name, k = f"{base}_{k}", k + 1
            written.add(name)
            (folder / f"{name}.html").write_text(r.feedback_html(student), encoding="utf-8")
    return len(written)


def _warn_shared_carnes(reports: list) -> None:
    """A carné claimed by more than one submission: every one of them says so (it may be a takeover)."""
    claims: dict[str, list] = {}
    for r in reports:
        for m in r.members:
            if m.carne:
                claims.setdefault(m.carne, []).append(r)
    for carne, claimants in claims.items():
        if len(claimants) > 1:
            names = ", ".join(sorted(c.student for c in claimants))
            for r in claimants:
                r.warnings.append(f"carné {carne} is claimed by {len(claimants)} submissions: {names}")


@app.command(
    "grade",
    epilog="Examples:  cnnlab grade alice.ipynb  |  cnnlab grade submissions/ --csv marks.csv --jobs 2  |  "
    "cnnlab grade subs/ --data cats-and-dogs/ --jobs 2  |  "
    "cnnlab grade subs/ --feedback feedback/ --seed 42  |  cnnlab grade bob.py --scheme lab --json  |  "
    "cnnlab grade --reference",
)
def grade(
    submissions: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Students' .py or .ipynb files, folders of them, or folders of student folders.",
            show_default=False,
        ),
    ] = None,
    scheme: Annotated[
        Scheme, typer.Option(help="full: the lab's cases and hidden ones; lab: the notebook's cases only.")
    ] = Scheme.full,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed of the hidden cases (default: a fresh one, written to the report).", min=0),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the marks as JSON.")] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds allowed for one call of a function.", min=0.1)
    ] = 10.0,
    total_timeout: Annotated[
        float, typer.Option(help="Seconds allowed for one whole submission.", min=1.0)
    ] = 120.0,
    memory: Annotated[
        int, typer.Option(help="Memory limit of a submission (its whole address space), in MiB.", min=256)
    ] = 2048,
    reference: Annotated[
        bool, typer.Option("--reference", help="Grade cnnlab's own functions (loops and vectorized).")
    ] = False,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Write the marks per student to this CSV file.")
    ] = None,
    feedback: Annotated[
        Path | None, typer.Option("--feedback", help="Write one HTML feedback page per student here.")
    ] = None,
    jobs: Annotated[int, typer.Option(help="Submissions graded at the same time.", min=1)] = 1,
    no_isolation: Annotated[
        bool,
        typer.Option(
            "--no-isolation", help="Grade without OS isolation (only where isolation is unavailable)."
        ),
    ] = False,
    data: Annotated[
        Path | None,
        typer.Option(
            help="The Kaggle photos (train/{cats,dogs}, test/{cats,dogs}): Part 2's model is trained on "
            "them (the lab's recipe, about 1-2 minutes per student) for its 10 marks. Without it Part 2's "
            "accuracy is not graded (totals out of 90).",
            show_default=False,
        ),
    ] = None,
    train_timeout: Annotated[
        float, typer.Option(help="Seconds allowed for Part 2's training of one student's model.", min=10.0)
    ] = 900.0,
) -> None:
    """Grade students' files: the lab's eight functions (70 marks), exercise 8 (20) and Part 2 (10, with
    --data), each part in an isolated worker."""
    from cnnlab.grading import NO_ISOLATION, Limits, grade_submissions, new_seed, reference_submission
    from cnnlab.grading.isolation import check_available
    from cnnlab.grading.report import write_csv
    from cnnlab.grading.roster import expand

    if not submissions and not reference:
        raise typer.BadParameter("give a .py or .ipynb file, a folder of them, or --reference")
    # Where the results go is checked before anything is graded, so no grading is lost to a bad path.
    if feedback is not None:
        try:
            feedback.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise typer.BadParameter(f"cannot write feedback pages to {feedback}: {exc.strerror}") from None
    if csv_out is not None and not csv_out.parent.is_dir():
        raise typer.BadParameter(f"cannot write {csv_out}: {csv_out.parent} is not a folder")
    limits = Limits(timeout=timeout, total_timeout=max(total_timeout, timeout), memory_mb=memory)
    photos = None
    if data is not None:
        from cnnlab.grading.part2 import load_part2_data

        photos = load_part2_data(data)  # a DataError is one line, from the CLI's error handler
        for skipped in photos.skipped:
            print(f"warning: skipped {skipped}", file=sys.stderr)
    seed = seed if seed is not None or scheme is Scheme.lab else new_seed()
    reports = []
    if submissions:
        isolation = NO_ISOLATION if no_isolation else check_available()
        entries = expand(list(submissions))
        # One file that cannot be read is an error; among several it is a student with 0 marks.
        unreadable = "report" if len(entries) > 1 else "raise"
        reports += grade_submissions(
            [e.path for e in entries],
            limits,
            jobs=jobs,
            names=[e.name for e in entries],
            scheme=scheme.value,
            seed=seed,
            isolation=isolation,
            unreadable=unreadable,
            warnings=[e.warnings for e in entries],
            missing=[e.missing for e in entries],
            data=photos,
            train_timeout=train_timeout,
        )
    if reference:
        refs = [reference_submission(m) for m in REFERENCE_MODULES]
        reports += grade_submissions(
            refs,
            limits,
            jobs=jobs,
            names=list(REFERENCE_MODULES),
            scheme=scheme.value,
            seed=seed,
            isolation=NO_ISOLATION,  # cnnlab's own code
            allow_cnnlab=True,
            data=photos,
            train_timeout=train_timeout,
        )
    several = len(reports) > 1
    _warn_shared_carnes(reports)

    if csv_out is not None:
        with open(csv_out, "w", newline="", encoding="utf-8") as fh:
            write_csv(reports, fh)
    if feedback is not None:
        count = _write_feedback(reports, feedback)
    if as_json:
        data = [r.to_dict() for r in reports]
        print(json.dumps(data if several else data[0], indent=2, ensure_ascii=False))
    elif several and not reference:
        if csv_out is None:
            write_csv(reports, sys.stdout)
        else:
            from cnnlab.grading.report import clean

            for r in reports:
                print(f"{clean(r.student)}: {r.total} / {r.available} marks")
            print(
                f"wrote {csv_out} (scheme {scheme.value}" + (f", seed {seed})" if seed is not None else ")")
            )
    else:
        for i, r in enumerate(reports):
            if several:
                from cnnlab.grading.report import clean

                print(("\n" if i else "") + f"== {clean(r.student)} ==")
            print(r.format_text())
    if feedback is not None and not as_json:
        print(f"wrote {count} feedback pages to {feedback}", file=sys.stderr)
