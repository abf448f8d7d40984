"""Grade the functions of this process, without a sandbox: ``grade_functions(globals())`` in the notebook.

The same checks, cases and judging as :func:`cnnlab.grading.grade_submission`, but the calls run here,
with no time or memory limit and no isolation: for a student checking their own notebook. For untrusted
files use :func:`cnnlab.grading.grade_submission`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cnnlab.grading import exercise8, part2
from cnnlab.grading.judge import copy_value, judge, scheme_cases
from cnnlab.grading.part2 import Part2Data
from cnnlab.grading.report import PARTS, Report
from cnnlab.grading.sandbox import Answer, Request

__all__ = ["call_in_process", "grade_functions"]


def _helper(name: str) -> Callable[..., Any]:
    from cnnlab.grading.worker import part2 as worker_part2

    return getattr(worker_part2, name.removeprefix("part2."))


def call_in_process(requests: Sequence[Request], functions: Mapping[str, Any]) -> list[Answer]:
    """Answer ``requests`` with ``functions`` in this process (inputs copied first), as the worker would."""
    from cnnlab.grading.marks import failure_reason

    answers: list[Answer] = []
    failed: set[str] = set()
    for request in requests:
        if request.group and request.group in failed:
            answers.append(Answer(False, reason="not run: an earlier case of this call failed"))
            continue
        func = functions.get(request.function)
        if not callable(func):
            answers.append(Answer(False, reason=f"missing: {request.function} is not defined"))
            failed.add(request.group)
            continue
        args, kwargs = request.args, request.kwargs
        if request.make_args is not None:
            try:
                args, kwargs = request.make_args(answers)
            except Exception as exc:
                answers.append(Answer(False, reason=f"not run: {exc}"))
                failed.add(request.group)
                continue
        args, kwargs = copy_value(tuple(args)), copy_value(dict(kwargs))
        try:
            if request.helper:
                value = _helper(request.helper)(func, *args, **kwargs)
            else:
                value = func(*args, **kwargs)
            answers.append(Answer(True, value=value))
        except (Exception, SystemExit) as exc:
            answers.append(Answer(False, reason=failure_reason(exc)))
            failed.add(request.group)
    return answers


def grade_functions(
    functions: Mapping[str, Any],
    student: str = "",
    scheme: str = "lab",
    seed: int | None = None,
    parts: Sequence[str] = PARTS,
    data: Part2Data | None = None,
) -> Report:
    """Grade ``functions`` (``globals()`` of a notebook) on the checks of ``parts`` (all three by default).

    Part 2's accuracy is trained only with ``data`` (:func:`cnnlab.grading.part2.load_part2_data`; 1-2
    minutes); without it the check is not available. Part 2 needs PyTorch.
    """
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"grade_functions: unknown parts {unknown}; choose from {list(PARTS)}")
    checks = []
    if "functions" in parts:
        chosen, accepted = scheme_cases(scheme, seed)
        requests = [Request(c.function, c.args, c.kwargs, group=c.call) for c in chosen]
        checks += judge(chosen, call_in_process(requests, functions), accepted)
    if "exercise 8" in parts:
        answers = call_in_process(exercise8.requests(scheme, seed), functions)
        checks += exercise8.judge_exercise8(scheme, seed, answers)
    if "part 2" in parts:
        if not part2.torch_available():
            checks += part2.unavailable(part2.NO_TORCH)
        else:
            answers = call_in_process(part2.requests(scheme, seed, data), functions)
            checks += part2.judge_part2(scheme, seed, answers, data)
    return Report(student, checks, scheme=scheme, seed=seed)
