"""Grade students' files: read (trusted), run (isolated worker), judge (trusted), report.

:func:`grade_submission` is the whole path for one file: :mod:`.submission` reads and parses it here,
:mod:`.sandbox` runs its functions on the cases of :mod:`.cases` in an isolated worker, :mod:`.judge`
compares the answers with the results it computes itself, and a :class:`~.report.Report` says what
happened. :func:`grade_submissions` does it for a class, ``jobs`` at a time; one student's failure of
any kind is that student's row (0 marks and the reason), never the end of the batch.

Isolation fails closed: unless ``isolation=NONE`` is passed (the CLI's ``--no-isolation``),
:func:`cnnlab.grading.isolation.check_available` must succeed, or :class:`IsolationUnavailable` is raised
before any student code runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.grading import exercise8, part2
from cnnlab.grading import isolation as iso
from cnnlab.grading.cases import new_seed
from cnnlab.grading.judge import HINTS, judge, scheme_cases
from cnnlab.grading.part2 import Part2Data
from cnnlab.grading.report import CheckResult, Member, Report
from cnnlab.grading.sandbox import Answer, Limits, LoadResult, Request, run_requests
from cnnlab.grading.submission import Submission, SubmissionError, load_submission, submission_from_source

#: Seconds for Part 2's training in the sandbox (the lab's recipe takes 1-2 minutes on one core).
TRAIN_TIMEOUT = 900.0
#: Seconds for one of Part 2's other calls (building the model imports PyTorch's optimizers, ~2 s).
PART2_CALL_TIMEOUT = 60.0

__all__ = ["grade_submission", "grade_submissions", "reference_submission"]


def _version() -> str:
    from cnnlab import __version__

    return __version__


def identity_checks(identity: dict[str, str]) -> list[CheckResult]:
    """The lab's two 0-mark checks: carnés of at least 5 characters, non-empty typed signatures."""
    results = []
    for check, keys, ok, rule in (
        ("carne", ("carne_1", "carne_2"), lambda v: len(v.strip()) >= 5, "at least 5 characters"),
        (
            "firma",
            ("firma_mecanografiada_1", "firma_mecanografiada_2"),
            lambda v: bool(v.strip()),
            "not empty",
        ),
    ):
        bad = [k for k in keys if not ok(identity.get(k, ""))]
        reason = f"{' and '.join(bad)} must be set ({rule})" if bad else ""
        hint = HINTS["identity"] if bad else ""
        results.append(CheckResult("identity", check, 0, 0, not bad, reason, hint, part="identity"))
    return results


def members(identity: dict[str, str]) -> list[Member]:
    """The pair who handed it in, as the identity cells say (none: the file or folder name is used)."""
    out = []
    for n in (1, 2):
        carne = identity.get(f"carne_{n}", "").strip()
        name = identity.get(f"firma_mecanografiada_{n}", "").strip()
        if carne or name:
            out.append(Member(carne, name or carne))
    return out


def _related(name: str, sub: Submission, problems: list[dict[str, Any]]) -> str:
    """The problem that explains why ``name`` is missing: its own syntax error or failed definition."""
    for p in sub.syntax_errors:
        if name in p.names:
            return str(p)
    for p in problems:
        if p["kind"] == "load" and name in p["names"]:
            return f"{p['where']}, line {p['line']}: {p['message']}"
    return ""


def _explain_missing(answers: list[Answer], sub: Submission, problems: list[dict[str, Any]]) -> list[Answer]:
    out = []
    for a in answers:
        if not a.ok and a.reason.startswith("missing: "):
            name = a.reason.removeprefix("missing: ").split(" ", 1)[0]
            why = _related(name, sub, problems)
            if why:
                a = Answer(False, reason=f"{a.reason} ({why})", notes=a.notes)
        out.append(a)
    return out


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _part2_limits(limits: Limits, train_timeout: float) -> Limits:
    """Part 2's worker: PyTorch to load, and the training's own time limit (when there is a training) on
    top of the submission's."""
    return dataclasses.replace(
        limits,
        timeout=max(limits.timeout, PART2_CALL_TIMEOUT),
        total_timeout=limits.total_timeout + train_timeout,
        load_timeout=max(limits.load_limit, PART2_CALL_TIMEOUT),
    )


def _grade_part2(
    sub: Submission,
    limits: Limits,
    scheme: str,
    seed: int | None,
    isolation: iso.Isolation,
    allow_cnnlab: bool,
    data: Part2Data | None,
    train_timeout: float,
) -> tuple[list[CheckResult], LoadResult | None]:
    """Part 2 in a worker of its own, with PyTorch importable (NumPy-only workers never load it)."""
    if not part2.torch_available():
        return part2.unavailable(part2.NO_TORCH), None
    if isolation.sandboxed:
        try:
            iso.package_dirs("torch")
        except iso.IsolationUnavailable as exc:  # Part 2 only: the other parts keep their marks
            return part2.unavailable(f"not run: PyTorch cannot be given to the sandbox ({exc})"), None
    reqs = part2.requests(scheme, seed, data)
    if not any(part2.EXERCISE in u["source"] for u in sub.units()):  # no PyTorch sandbox for nothing
        missing = Answer(False, reason=f"missing: {part2.EXERCISE} is not defined")
        return part2.judge_part2(scheme, seed, [missing] * len(reqs), data), None
    timed = [
        dataclasses.replace(r, timeout=train_timeout if r.helper == "part2.train" else None) for r in reqs
    ]
    loaded, answers = run_requests(
        sub.units(),
        timed,
        _part2_limits(limits, train_timeout if data is not None else 0.0),
        isolation,
        block_cnnlab=not allow_cnnlab,
        packages=("torch",),
    )
    answers = _explain_missing(answers, sub, loaded.problems)
    return part2.judge_part2(scheme, seed, answers, data), loaded


def grade_submission(
    submission: str | Path | Submission,
    limits: Limits | None = None,
    *,
    student: str | None = None,
    scheme: str = "full",
    seed: int | None = None,
    isolation: iso.Isolation | None = None,
    allow_cnnlab: bool = False,
    data: Part2Data | None = None,
    train_timeout: float = TRAIN_TIMEOUT,
) -> Report:
    """Grade one ``.py`` / ``.ipynb`` file (or a loaded :class:`Submission`) in isolated workers: the
    eight functions (70 marks), exercise 8 (20) and Part 2 (10; with ``data`` only, else not available).

    ``scheme``: ``"full"`` (the lab's cases and hidden ones drawn from ``seed``; a fresh seed when None,
    recorded in the report) or ``"lab"``. ``isolation``: None probes and uses the sandbox (raising
    :class:`~cnnlab.grading.isolation.IsolationUnavailable` where there is none); ``isolation.NONE`` runs
    the worker as a plain child process. ``data``: :func:`cnnlab.grading.part2.load_part2_data` of the
    Kaggle photos, for Part 2's training (``train_timeout`` seconds). Raises :class:`SubmissionError` only
    when the file cannot be read.
    """
    if allow_cnnlab:  # cnnlab's own code (--reference): it cannot run where cnnlab is invisible
        isolation = iso.NONE
    isolation = iso.check_available() if isolation is None else isolation
    if scheme == "full" and seed is None:
        seed = new_seed()
    sub = submission if isinstance(submission, Submission) else load_submission(submission)
    chosen, accepted = scheme_cases(scheme, seed)
    report = Report(
        student or sub.student,
        [],
        submission=str(sub.path),
        scheme=scheme,
        seed=seed if scheme == "full" else None,
        isolation=isolation.name,
        numpy=np.__version__,
        grader=_version(),
        members=members(sub.identity),
    )
    report.problems += [str(p) for p in sub.syntax_errors]
    if not sub.chunks:
        reason = f"not graded: {report.problems[0] if report.problems else 'the file has no code'}"
        report.checks = _all_failed(reason, scheme, seed, data)
    else:
        ex8_requests = exercise8.requests(scheme, seed)
        # A check fails at its first failing case: the later cases of a call that failed are not run.
        requests = [Request(c.function, c.args, c.kwargs, group=c.call) for c in chosen]
        loaded, all_answers = run_requests(
            sub.units(), requests + ex8_requests, limits, isolation, block_cnnlab=not allow_cnnlab
        )
        answers, ex8_answers = all_answers[: len(requests)], all_answers[len(requests) :]
        part2_checks, part2_loaded = _grade_part2(
            sub, limits or Limits(), scheme, seed, isolation, allow_cnnlab, data, train_timeout
        )
        ex8_answers = _explain_missing(ex8_answers, sub, loaded.problems)
        if part2_loaded is not None and not part2_loaded.failure:
            # PyTorch exists in Part 2's sandbox only: its loading says what was really missing
            loaded.problems = part2_loaded.problems
        report.problems += [
            f"{p['where']}, line {p['line']}: {p['message']}" for p in loaded.problems if p["kind"] == "load"
        ]
        report.skipped += [
            f"{p['where']}, line {p['line']}: {p['message']}"
            for p in loaded.problems
            if p["kind"] == "import"
        ]
        report.notes += _unique([*loaded.notes, *(n for a in all_answers for n in a.notes)])
        report.output = loaded.output
        answers = _explain_missing(answers, sub, loaded.problems)
        report.checks = judge(chosen, answers, accepted)
        report.checks += exercise8.judge_exercise8(scheme, seed, ex8_answers)
        report.checks += part2_checks
    if not allow_cnnlab:  # cnnlab's own functions (--reference) were handed in by nobody
        report.checks += identity_checks(sub.identity)
    return report


def _all_failed(reason: str, scheme: str, seed: int | None, data: Part2Data | None) -> list[CheckResult]:
    """Every marked check of the three parts, failed with ``reason`` (a file that could not be graded)."""
    chosen, accepted = scheme_cases(scheme, seed)
    checks = judge(chosen, [Answer(False, reason=reason) for _ in chosen], accepted)
    ex8 = exercise8.requests(scheme, seed)
    checks += exercise8.judge_exercise8(scheme, seed, [Answer(False, reason=reason) for _ in ex8])
    if not part2.torch_available():
        return checks + part2.unavailable(part2.NO_TORCH)
    p2 = part2.requests(scheme, seed, data)
    return checks + part2.judge_part2(scheme, seed, [Answer(False, reason=reason) for _ in p2], data)


def _failed_report(
    name: str,
    path: Path | None,
    reason: str,
    scheme: str,
    seed: int | None,
    isolation: str,
    data: Part2Data | None = None,
) -> Report:
    report = Report(
        name,
        _all_failed(reason, scheme, seed, data) + identity_checks({}),
        submission=str(path) if path else "",
        problems=[reason.removeprefix("not graded: ")],
        scheme=scheme,
        seed=seed if scheme == "full" else None,
        isolation=isolation,
        numpy=np.__version__,
        grader=_version(),
    )
    return report


def grade_submissions(
    submissions: Sequence[str | Path | Submission | None],
    limits: Limits | None = None,
    *,
    jobs: int = 1,
    names: Sequence[str] | None = None,
    scheme: str = "full",
    seed: int | None = None,
    isolation: iso.Isolation | None = None,
    allow_cnnlab: bool = False,
    unreadable: str = "report",
    warnings: Sequence[list[str]] | None = None,
    missing: Sequence[str] | None = None,
    data: Part2Data | None = None,
    train_timeout: float = TRAIN_TIMEOUT,
) -> list[Report]:
    """Grade several submissions (``jobs`` at a time, each in its own worker); reports in input order.

    One seed for the class (fresh when None); ``data`` (Part 2's photos) is read once, by the caller.
    A file that cannot be read gets a report with 0 marks and
    the reason (``unreadable="report"``) or raises ``SubmissionError`` (``"raise"``); so does anything
    else that goes wrong with one student: the batch always finishes.
    """
    if unreadable not in ("report", "raise"):
        raise ValueError(f"grade_submissions: unreadable must be 'report' or 'raise', got {unreadable!r}")
    n = len(submissions)
    names = list(names) if names is not None else [None] * n
    if len(names) != n:
        raise ValueError(f"grade_submissions: {len(names)} names for {n} submissions")
    if allow_cnnlab:
        isolation = iso.NONE
    isolation = iso.check_available() if isolation is None else isolation
    if scheme == "full" and seed is None:
        seed = new_seed()
    scheme_cases(scheme, seed)  # compute the expected answers once, before the threads start
    exercise8.references(scheme, seed)
    part2.cases(scheme, seed)

    def one(i: int) -> Report:
        item, name = submissions[i], names[i]
        path = Path(item.path if isinstance(item, Submission) else item) if item is not None else None
        label = name or (path.stem if path else f"student {i + 1}")
        try:
            if item is None:
                reason = (missing[i] if missing else "") or "not graded: no submission"
                report = _failed_report(label, None, reason, scheme, seed, isolation.name, data)
            else:
                report = grade_submission(
                    item,
                    limits,
                    student=name,
                    scheme=scheme,
                    seed=seed,
                    isolation=isolation,
                    allow_cnnlab=allow_cnnlab,
                    data=data,
                    train_timeout=train_timeout,
                )
        except SubmissionError as exc:
            if unreadable == "raise":
                raise
            report = _failed_report(label, path, f"not graded: {exc}", scheme, seed, isolation.name, data)
        except Exception as exc:  # the grader's own failure with one student: that row, not the batch
            reason = f"not graded: the grader failed on this submission ({type(exc).__name__}: {exc})"
            report = _failed_report(label, path, reason, scheme, seed, isolation.name, data)
        if warnings is not None:
            report.warnings += warnings[i]
        return report

    if jobs <= 1 or n <= 1:
        return [one(i) for i in range(n)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, range(n)))


REFERENCE_PARTS = """
from cnnlab.nn.lab_exercise8 import backward_propagation, update_parameters


def CNNClassifier(input_channels, image_size, num_classes):
    from cnnlab.torch_backend.models import CNNClassifier as Sequential

    return Sequential(num_classes=num_classes, image_size=image_size, in_channels=input_channels)
"""


def reference_submission(module: str) -> Submission:
    """A submission of cnnlab's own answers: the lab's eight functions from ``module``
    (``cnnlab.ops.loops``...), exercise 8 from :mod:`cnnlab.nn.lab_exercise8` and Part 2's network from
    :mod:`cnnlab.torch_backend.models`.

    It is cnnlab's own code, so it is graded without isolation and with cnnlab importable.
    """
    from cnnlab.grading.lab import FUNCTIONS

    source = f"from {module} import {', '.join(FUNCTIONS)}\n" + REFERENCE_PARTS
    return submission_from_source(module, source)
