"""Read a submission (``.py`` or ``.ipynb``) into statements to run, without running anything.

This runs in the grader's own (trusted) process, so it only reads and parses, with bounds: a file of at
most 5 MB, a notebook whose JSON is not absurdly nested, source that ``ast.parse`` can handle.

A notebook gives one chunk per code cell; IPython-only lines are blanked (so line numbers stay right):
shell lines (``!ls``, ``x = !ls``), line magics (``%matplotlib inline``), help lines (``zero_pad?``). A cell
that starts with a cell magic keeps its body for ``%%time``, ``%%timeit`` and ``%%capture`` and is dropped
for any other (``%%bash``, ``%%writefile``...). A ``.py`` file is one chunk, blanked the same way.

**A syntax error costs only the top-level statement it is in.** A chunk that does not parse is cut at
its top-level statements (lines that start in column 0, keeping ``else:``/``except:``, closing brackets
and decorated definitions with what they continue) and each run of statements that parses is kept; a
piece that parses with none of the pieces after it is reported as a :class:`SyntaxProblem` with its line,
the names it would have defined, and left out. Cells and ``.py`` files follow the same rule, so the same
code gets the same marks in either form.

What runs is decided later, in the worker (:func:`cnnlab.grading.worker.loader.kept_statements`): only
imports, definitions and constant assignments. The lab's identity cells (``carne_1``,
``firma_mecanografiada_1``, ``carne_2``, ``firma_mecanografiada_2``) are read here as constants.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnlab.errors import CnnlabError

__all__ = [
    "IDENTITY",
    "Chunk",
    "Submission",
    "SubmissionError",
    "SyntaxProblem",
    "load_submission",
    "strip_ipython",
    "submission_from_source",
]

SUFFIXES = (".py", ".ipynb")
IDENTITY = ("carne_1", "firma_mecanografiada_1", "carne_2", "firma_mecanografiada_2")
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}
_SHELL_ASSIGN = re.compile(r"[\w.,\[\]()*][\w.,\[\]()* \t]*=[ \t]*[!%]")  # on the stripped line
_MAGIC = re.compile(r"(%%?[A-Za-z]|!(?!=))")  # %name, %%name, !cmd (not the != of a continuation)
_HELP = re.compile(r"(\?{1,2}[\w.]+|[\w.]+\?{1,2})\s*$")
_CONTINUES = re.compile(r"^(else|elif|except|finally)\b|^[)\]}]")
_DEFINES = re.compile(r"^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)
_MAX_BYTES = 5_000_000
_MAX_JOIN = 25
_MAX_SEGMENTS = 2000


class SubmissionError(CnnlabError, ValueError):
    """A submission that cannot be read at all (missing, not .py/.ipynb, not a notebook)."""


@dataclass(frozen=True)
class Chunk:
    """Source of one unit to run: ``label`` (file or cell) and the ``line`` its first line had there."""

    label: str
    source: str
    line: int = 1

    def unit(self) -> dict[str, Any]:
        """The form the worker loads (:mod:`cnnlab.grading.worker.loader`)."""
        return {"label": self.label, "line": self.line, "source": self.source}


@dataclass(frozen=True)
class SyntaxProblem:
    """A piece of a chunk that is not valid Python: where, why, and the names it would have defined."""

    label: str
    line: int | None
    message: str
    names: tuple[str, ...] = ()
    last_line: int | None = None

    def __str__(self) -> str:
        where = f"{self.label}, line {self.line}" if self.line else self.label
        text = f"syntax error in {where}: {self.message}"
        if self.line and self.last_line and self.last_line > self.line:
            text += f" (lines {self.line}-{self.last_line} not graded"
            text += f": {', '.join(self.names)})" if self.names else ")"
        elif self.names:
            text += f" ({', '.join(self.names)} not graded)"
        return text


@dataclass
class Submission:
    path: Path
    chunks: list[Chunk]
    syntax_errors: list[SyntaxProblem] = field(default_factory=list)
    identity: dict[str, str] = field(default_factory=dict)

    @property
    def student(self) -> str:
        return self.path.stem

    def units(self) -> list[dict[str, Any]]:
        return [c.unit() for c in self.chunks]

    def defined(self) -> set[str]:
        """The names of the top-level functions and classes it defines (read, not run)."""
        names: set[str] = set()
        for chunk in self.chunks:
            tree = _parse(chunk.source, chunk.label)
            if isinstance(tree, ast.Module):
                names |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        return names


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
        code = line.lstrip()[:1000]  # bounded: the patterns never see a pathological line whole
        if _MAGIC.match(code) or _SHELL_ASSIGN.match(code) or _HELP.match(code):
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def _parse(source: str, label: str) -> ast.Module | SyntaxProblem:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like
            return ast.parse(source, filename=label)
    except SyntaxError as exc:
        return SyntaxProblem(label, exc.lineno, exc.msg)
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return SyntaxProblem(label, None, f"{type(exc).__name__}: {exc}")


def _segments(lines: list[str]) -> list[tuple[int, int]]:
    """``[start, end)`` line ranges of the top-level statements (by column-0 lines)."""
    starts: list[int] = []
    last_code = ""
    for i, line in enumerate(lines):
        if not line.strip() or line[0] in " \t#":
            continue
        if not starts or not (_CONTINUES.match(line) or last_code.startswith("@")):
            starts.append(i)
        last_code = line
    if not starts:
        return []
    starts[0] = 0
    return list(zip(starts, [*starts[1:], len(lines)], strict=True))


def split_statements(label: str, source: str, first_line: int = 1) -> tuple[list[Chunk], list[SyntaxProblem]]:
    """``source`` as chunks that parse, and the problems of the pieces that do not (see the module doc)."""
    parsed = _parse(source, label)
    if isinstance(parsed, ast.Module):
        return [Chunk(label, source, first_line)], []
    lines = source.split("\n")
    segments = _segments(lines)
    if len(segments) > _MAX_SEGMENTS:  # no lab file has this many statements: one problem, not minutes
        names = tuple(_DEFINES.findall(source))
        return [], [SyntaxProblem(label, parsed.line, parsed.message, names, first_line + len(lines) - 1)]
    chunks: list[Chunk] = []
    problems: list[SyntaxProblem] = []
    budget = 4 * len(segments) + 100  # parse attempts: a few per statement, then the rest is one problem
    i = 0
    while i < len(segments):
        start = segments[i][0]
        if budget <= 0:
            rest = "\n".join(lines[start:])
            names = tuple(_DEFINES.findall(rest))
            problems.append(
                SyntaxProblem(label, first_line + start, parsed.message, names, first_line + len(lines) - 1)
            )
            break
        for j in range(i, min(len(segments), i + _MAX_JOIN)):
            budget -= 1
            text = "\n".join(lines[start : segments[j][1]])
            if isinstance(_parse(text, label), ast.Module):
                chunks.append(Chunk(label, text, first_line + start))
                i = j + 1
                break
        else:
            end = segments[i][1]
            text = "\n".join(lines[start:end])
            alone = _parse(text, label)
            message = alone.message if isinstance(alone, SyntaxProblem) else parsed.message
            line = alone.line if isinstance(alone, SyntaxProblem) and alone.line else 1
            last = first_line + start + len(text.rstrip("\n").split("\n")) - 1
            problems.append(
                SyntaxProblem(
                    label, first_line + start + line - 1, message, tuple(_DEFINES.findall(text)), last
                )
            )
            i += 1
    if not segments:  # nothing in column 0 (an indented cell): the whole chunk is the problem
        problems.append(SyntaxProblem(label, parsed.line, parsed.message, tuple(_DEFINES.findall(source))))
    return chunks, problems


def _read_notebook(path: Path, text: str) -> list[tuple[str, str]]:
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"{path}: not a Jupyter notebook (bad JSON: {exc.msg}, line {exc.lineno})"
        raise SubmissionError(message) from None
    except RecursionError:
        raise SubmissionError(f"{path}: not a Jupyter notebook (its JSON is nested too deeply)") from None
    except ValueError as exc:  # a number too long to read, and the like
        raise SubmissionError(f"{path}: not a Jupyter notebook ({exc})") from None
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
            source = "".join(s for s in source if isinstance(s, str))
        if not isinstance(source, str):
            continue
        cells.append((f"{path.name} [code cell {number}]", source))
    return cells


def _identity(chunks: list[Chunk]) -> dict[str, str]:
    """The lab's identity constants (``carne_1 = "..."``), as text; the last assignment wins."""
    found: dict[str, str] = {}
    for chunk in chunks:
        tree = _parse(chunk.source, chunk.label)
        if not isinstance(tree, ast.Module):
            continue
        for node in tree.body:
            if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Constant):
                continue
            value = node.value.value
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                continue
            if isinstance(value, int) and abs(value) >= 10**30:  # not a carné; str() of it may refuse
                continue
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in IDENTITY:
                    found[target.id] = str(value)[:200]
    return found


def _from_raw(path: Path, raw: list[tuple[str, str]]) -> Submission:
    chunks: list[Chunk] = []
    problems: list[SyntaxProblem] = []
    for label, source in raw:
        stripped = strip_ipython(source)
        if stripped is None or not stripped.strip():
            continue
        good, bad = split_statements(label, stripped)
        chunks += good
        problems += bad
    return Submission(path, chunks, problems, _identity(chunks))


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
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SubmissionError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if size > _MAX_BYTES:
        raise SubmissionError(f"{path}: larger than {_MAX_BYTES // 1_000_000} MB; not a lab submission")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:  # unreadable (permissions, a vanished file): that student's row, not the batch
        raise SubmissionError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    raw = _read_notebook(path, text) if path.suffix == ".ipynb" else [(path.name, text)]
    return _from_raw(path, raw)


def submission_from_source(name: str, source: str) -> Submission:
    """A submission made from source text (``--reference`` uses ``from cnnlab.ops.loops import ...``)."""
    return _from_raw(Path(name), [(name, source)])
