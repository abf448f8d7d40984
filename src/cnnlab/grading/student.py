"""The student version of a lab notebook: the bodies of its solution functions become stubs.

A code cell is a *solution cell* when its metadata ``tags`` hold ``"solution"``. In it, every top-level
function, and every method of a top-level class (Part 2's ``CNNClassifier``), keeps its decorators, its
``def`` line(s) and its docstring; the rest of its body becomes::

        # YOUR CODE HERE
        raise NotImplementedError()

Everything else in the cell (imports, constants, comments between functions) is kept. The cell's tag
becomes ``"exercise"``, so the student version is not a source for another one. Every code cell loses its
outputs and execution count (answers printed by the solutions must not leak).

A stubbed function raises ``NotImplementedError`` when called, so ``cnnlab grade`` gives its checks 0
marks with the reason ``NotImplementedError`` and grades the other exercises as usual.

    cnnlab student notebooks/lab_cnn.ipynb build/lab_cnn_student.ipynb     # or: make student
"""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path
from typing import Any

from cnnlab.errors import CnnlabError

__all__ = [
    "EXERCISE_TAG",
    "SOLUTION_TAG",
    "STUB",
    "StudentNotebookError",
    "make_student_notebook",
    "stub_functions",
    "write_student_notebook",
]

SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"
#: The lines that replace a solution function's body (indented like the body).
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")


class StudentNotebookError(CnnlabError, ValueError):
    """A notebook that cannot be turned into a student version (unreadable, no solution cells...)."""


def _source_text(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _docstring_end(func: ast.FunctionDef | ast.AsyncFunctionDef) -> int | None:
    """Last line (1-based) of the function's docstring, or None when it has none."""
    first = func.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first.end_lineno
    return None


def stub_functions(source: str, label: str = "cell") -> tuple[str, list[str]]:
    """Replace the body of every top-level function and top-level class method of ``source`` by :data:`STUB`.

    Parameters
    ----------
    source : Python source of one cell
    label : names the cell in error messages

    Returns
    -------
    (stubbed source, names of the stubbed functions in source order; methods as ``Class.method``)

    Raises
    ------
    StudentNotebookError : the source is not valid Python, or a function's body shares the ``def`` line
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise StudentNotebookError(f"{label}: syntax error on line {exc.lineno}: {exc.msg}") from None
    lines = source.split("\n")
    cuts: list[tuple[int, int, str]] = []  # (first line to drop, 0-based; end, exclusive; indentation)
    names = []
    targets: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]] = []
    for top in tree.body:
        if isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef):
            targets.append((top, top.name))
        elif isinstance(top, ast.ClassDef):  # a solution class (Part 2's model): each of its methods
            targets += [
                (item, f"{top.name}.{item.name}")
                for item in top.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
    for node, name in targets:
        first = node.body[0]
        if first.lineno <= _header_end(node):
            raise StudentNotebookError(
                f"{label}: the body of {name}() starts on its def line; put it on lines of its own"
            )
        indent = " " * first.col_offset
        doc_end = _docstring_end(node)
        # 0-based index of the first line to cut: the one after the docstring, else the first statement's
        start = doc_end if doc_end is not None else first.lineno - 1
        end = node.end_lineno or first.lineno
        # Comments indented into the body right after its last statement belong to the solution too.
        while (
            end < len(lines) and lines[end].strip().startswith("#") and _indent(lines[end]) > node.col_offset
        ):
            end += 1
        cuts.append((start, end, indent))
        names.append(name)
    for start, end, indent in reversed(cuts):
        lines[start:end] = [indent + line for line in STUB]
    return "\n".join(lines), names


def _header_end(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The last line (1-based) that the ``def`` header's arguments and return annotation reach."""
    a = node.args
    parts = [
        *a.posonlyargs,
        *a.args,
        *a.kwonlyargs,
        a.vararg,
        a.kwarg,
        *a.defaults,
        *a.kw_defaults,
        node.returns,
    ]
    return max([node.lineno] + [p.end_lineno or p.lineno for p in parts if p is not None])


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def make_student_notebook(notebook: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The student version of an nbformat-4 notebook (a dict as read by ``json.load``); not modified.

    Returns
    -------
    (student notebook, names of the stubbed functions in notebook order)

    Raises
    ------
    StudentNotebookError : not an nbformat-4 notebook, no solution cell, or a solution cell without a
        top-level function or with invalid Python
    """
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise StudentNotebookError("not a Jupyter notebook in nbformat 4 (no 'cells' list)")
    student = copy.deepcopy(notebook)
    stubbed: list[str] = []
    solution_cells = 0
    code_number = 0
    for cell in student["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        code_number += 1
        cell["outputs"] = []
        cell["execution_count"] = None
        metadata = cell.setdefault("metadata", {})
        tags = list(metadata.get("tags") or [])
        if SOLUTION_TAG not in tags:
            continue
        solution_cells += 1
        label = f"code cell {code_number}"
        source, names = stub_functions(_source_text(cell), label)
        if not names:
            raise StudentNotebookError(
                f"{label} is tagged {SOLUTION_TAG!r} but defines no top-level function"
            )
        cell["source"] = source
        metadata["tags"] = [EXERCISE_TAG if t == SOLUTION_TAG else t for t in tags]
        stubbed += names
    if solution_cells == 0:
        raise StudentNotebookError(f"no code cell is tagged {SOLUTION_TAG!r}: nothing to turn into exercises")
    return student, stubbed


def write_student_notebook(source: str | Path, out: str | Path) -> list[str]:
    """Read the notebook ``source``, write its student version to ``out``; returns the stubbed names.

    Raises
    ------
    StudentNotebookError : ``source`` is missing or not a notebook, or ``out`` is ``source`` itself
    """
    source, out = Path(source), Path(out)
    if not source.is_file():
        raise StudentNotebookError(f"{source}: no such notebook")
    if out.exists() and out.resolve() == source.resolve():
        raise StudentNotebookError(
            f"{out}: the student version would overwrite the solutions it is made from"
        )
    try:
        notebook = json.loads(source.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StudentNotebookError(f"{source}: not a Jupyter notebook ({exc})") from None
    try:
        student, names = make_student_notebook(notebook)
    except StudentNotebookError as exc:
        raise StudentNotebookError(f"{source}: {exc}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(student, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return names
