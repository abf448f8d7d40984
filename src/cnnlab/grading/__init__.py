"""The lab's auto-grader: ``marks`` blocks and hash checks in the notebook; isolated grading of files.

In a notebook (the lab's way)::

    from cnnlab.grading import marks, check_hash, check_scalar, summary
    with marks(5, "zero_pad"):
        check_hash(x_pad, expected)          # raises CheckFailed("wrong shape ...") on a wrong answer
    summary()                                # "N / M marks", as an HTML table

For instructors: ``grade_submission("alice.ipynb")`` (or ``cnnlab grade alice.ipynb``) returns a
:class:`Report` of the lab's 100 marks: the eight functions (14 checks, 70 marks), exercise 8 (6 checks,
20 marks) and Part 2 (the model's structure, and 10 marks for the accuracy band when the photos are
given), under the ``full`` scheme (the lab's cases and hidden ones from a secret seed) or the ``lab``
scheme (the notebook's own cases). ``grade_functions(globals())`` grades the functions of the current
process instead, without a sandbox.

How it is built (each module has one job):

- :mod:`.submission` reads and parses a file in the grader's process (nothing runs there); a syntax
  error costs only its top-level statement.
- :mod:`.cases` the lab's cases and the hidden ones; :mod:`.lab` the checks and their marks;
  :mod:`.exercise8` and :mod:`.part2` the other two parts (their cases, requests and judging).
- :mod:`.isolation` bubblewrap + seccomp; :mod:`.sandbox` runs the worker (:mod:`.worker`, which never
  sees cnnlab or an answer) with limits; :mod:`.judge` computes the expected results from
  :mod:`cnnlab.ops.loops` and compares whole arrays; :mod:`.report` shows the outcome safely.
- :mod:`.roster` turns class folders into students; :mod:`.grader` ties it together;
  :mod:`.inprocess` grades the functions of this process (the notebook's own check).
- :mod:`.hashing`, :mod:`.marks`: the notebook's own checks; :mod:`.student` writes the student notebook.
"""

from cnnlab.grading.cases import SCHEMES, new_seed
from cnnlab.grading.grader import grade_submission, grade_submissions, reference_submission
from cnnlab.grading.hashing import CheckFailed, array_hash, check_hash, check_scalar, scalar_hash
from cnnlab.grading.inprocess import grade_functions
from cnnlab.grading.isolation import NONE as NO_ISOLATION
from cnnlab.grading.isolation import IsolationUnavailable
from cnnlab.grading.lab import AVAILABLE, CALLS, CHECKS
from cnnlab.grading.marks import Ledger, MarkRecord, Summary, marks, reset_marks, summary
from cnnlab.grading.report import CheckResult, Report
from cnnlab.grading.sandbox import Limits
from cnnlab.grading.submission import Submission, SubmissionError, load_submission

__all__ = [
    "AVAILABLE",
    "CALLS",
    "CHECKS",
    "NO_ISOLATION",
    "SCHEMES",
    "CheckFailed",
    "CheckResult",
    "IsolationUnavailable",
    "Ledger",
    "Limits",
    "MarkRecord",
    "Report",
    "Submission",
    "SubmissionError",
    "Summary",
    "array_hash",
    "check_hash",
    "check_scalar",
    "grade_functions",
    "grade_submission",
    "grade_submissions",
    "load_submission",
    "marks",
    "new_seed",
    "reference_submission",
    "reset_marks",
    "scalar_hash",
    "summary",
]
