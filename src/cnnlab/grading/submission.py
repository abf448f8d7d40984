"""Read a submission (``.py`` or ``.ipynb``) into chunks of Python source, without running anything.

A notebook gives one chunk per code cell; IPython-only lines are blanked (so line numbers stay right):
shell lines (``!ls``, ``x = !ls``), line magics (``%matplotlib inline``), help lines (``zero_pad?``). A cell
that starts with a cell magic keeps its body for ``%%time``, ``%%timeit`` and ``%%capture`` and is dropped
for any other (``%%bash``, ``%%writefile``...). A ``.py`` file is one chunk, blanked the same way.

What runs is decided later, in the sandbox (see :func:`cnnlab.grading._worker.kept_statements`): only the
top-level imports, function and class definitions and constant assignments of each chunk; test code,
prints and calls at the top level are skipped, as are ``if __name__ == "__main__":`` blocks.

A chunk that is not valid Python is reported as a :class:`SyntaxProblem` with its line (and cell) and left
out; the rest of the notebook is still graded.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.errors import CnnlabError

__all__ = ["Chunk", "Submission", "SubmissionError", "SyntaxProblem", "load_submission", "strip_ipython"]

SUFFIXES = (".py", ".ipynb")
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}
_SHELL_ASSIGN = re.compile(r"^\s*[\w.,\s\[\]()*]+=\s*[!%]")
_MAGIC = re.compile(r"^\s*(%%?[A-Za-z]|!(?!=))")  # %name, %%name, !cmd (not the != of a continuation)
_HELP = re.compile(r"^\s*(\?{1,2}[\w.]+|[\w.]+\?{1,2})\s*$")
_MAX_BYTES = 5_000_000


class SubmissionError(CnnlabError, ValueError):
    """A submission that cannot be read at all (missing, not .py/.ipynb, not a notebook)."""


@dataclass(frozen=True)
class Chunk:
    """Source of one code cell (or of the whole ``.py`` file); ``label`` names it in reasons/tracebacks."""

    label: str
    source: str


@dataclass(frozen=True)
class SyntaxProblem:
    label: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.label}, line {self.line}" if self.line else self.label
        return f"syntax error in {where}: {self.message}"


@dataclass
class Submission:
    path: Path
    chunks: list[Chunk]
    syntax_errors: list[SyntaxProblem] = field(default_factory=list)

    @property
    def student(self) -> str:
        return self.path.stem


def strip_ipython(source: str) -> str | None:
    """Blank IPython-only lines of one cell (keeping the line count); None for a non-Python cell magic."""
    lines = source.split("\n")
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        name = first[2:].split()[0] if first[2:].split() else ""
        if name not in _PYTHON_CELL_MAGICS:
            return None
        lines[0] = ""
    out = []
    for line in lines:
        if _MAGIC.match(line) or _SHELL_ASSIGN.match(line) or _HELP.match(line):
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def _syntax_problem(label: str, source: str) -> SyntaxProblem | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like
            ast.parse(source, filename=label)
    except SyntaxError as exc:
        return SyntaxProblem(label, exc.lineno, exc.msg)
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return SyntaxProblem(label, None, f"{type(exc).__name__}: {exc}")
    return None


def _read_notebook(path: Path, text: str) -> list[tuple[str, str]]:
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"{path}: not a Jupyter notebook (bad JSON: {exc.msg}, line {exc.lineno})"
        raise SubmissionError(message) from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SubmissionError(f"{path}: not a Jupyter notebook in nbformat 4 (no 'cells' list)")
    cells = []
    number = 0
    for cell in nb["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        number += 1
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        cells.append((f"{path.name} [code cell {number}]", str(source)))
    return cells


def load_submission(path: str | Path) -> Submission:
    """Read ``path`` (``.py`` or ``.ipynb``) into chunks; syntax errors are collected, not raised.

    Raises
    ------
    SubmissionError : the file is missing, too big, not UTF-8, of another type, or not a notebook
    """
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise SubmissionError(f"{path}: a submission must be a .py file or a .ipynb notebook")
    if not path.is_file():
        raise SubmissionError(f"{path}: no such file")
    if path.stat().st_size > _MAX_BYTES:
        raise SubmissionError(f"{path}: larger than {_MAX_BYTES // 1_000_000} MB; not a lab submission")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    raw = _read_notebook(path, text) if path.suffix == ".ipynb" else [(path.name, text)]
    chunks, problems = [], []
    for label, source in raw:
        stripped = strip_ipython(source)
        if stripped is None or not stripped.strip():
            continue
        problem = _syntax_problem(label, stripped)
        if problem is not None:
            problems.append(problem)
        else:
            chunks.append(Chunk(label, stripped))
    return Submission(path, chunks, problems)


def submission_from_source(name: str, source: str) -> Submission:
    """A submission made from source text (``--reference`` uses ``from cnnlab.ops.loops import ...``)."""
    problem = _syntax_problem(name, source)
    return Submission(Path(name), [] if problem else [Chunk(name, source)], [problem] if problem else [])
