"""Load a submission's statements into a namespace: only definitions run, nothing is raised.

The grader sends the statements it could parse (see :mod:`cnnlab.grading.submission`): one unit per
top-level statement or run of statements, with the label and first line they had in the student's file.
Of each unit only the top-level imports, ``def``/``class`` statements and constant assignments run (test
code, prints and calls do not), after :func:`cnnlab.grading.worker.compat.transform`.

What goes wrong is a problem record, never an exception:
``{"kind": "load" | "import", "where": label, "line": n, "message": text, "names": [names it binds]}``.
``import`` records are the course's scaffolding that the grader does not have (``public_tests``,
``h5py``, ``matplotlib``...): they cost nothing and are never given as the reason of another failure.
"""

from __future__ import annotations

import ast
import traceback
from typing import Any

from . import compat

__all__ = ["bound_names", "describe_exception", "kept_statements", "load"]

_KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _is_constant(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def kept_statements(tree: ast.Module) -> list[ast.stmt]:
    """The top-level statements a submission may run: imports, ``def``/``class``, ``NAME = <literal>``."""
    kept = []
    for node in tree.body:
        if isinstance(node, _KEEP):
            kept.append(node)
            continue
        names = isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets)
        names = names or (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name))
        if names and node.value is not None and _is_constant(node.value):
            kept.append(node)
    return kept


def bound_names(node: ast.stmt) -> list[str]:
    """The names a top-level statement binds (``def f`` -> ``f``, ``import a.b as c`` -> ``c``)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [alias.asname or alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _future_flags(tree: ast.Module) -> int:
    import __future__

    flags = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                flags |= getattr(getattr(__future__, alias.name, None), "compiler_flag", 0)
    return flags


def _where(exc: BaseException, labels: set[str]) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in labels]
    return f" (at {frames[-1].filename}, line {frames[-1].lineno})" if frames else ""


def describe_exception(
    exc: BaseException, labels: set[str] | frozenset[str] = frozenset(), limit: int = 200
) -> str:
    """One line: ``called sys.exit(3)``, ``NotImplementedError``, ``ValueError: msg (at f.py, line 7)``."""
    if isinstance(exc, SystemExit):
        text = f"called sys.exit({exc.code!r})" if exc.code is not None else "called sys.exit()"
    else:
        try:
            message = " ".join(str(exc).split())
        except Exception:  # an exception whose __str__ fails: the student's doing
            message = ""
        text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text + _where(exc, set(labels))


def load(units: list[dict[str, Any]], namespace: dict[str, Any], notes: compat.Notes) -> list[dict[str, Any]]:
    """Run the kept statements of every unit in ``namespace``; return the problem records (never raise)."""
    problems: list[dict[str, Any]] = []
    labels = {str(u["label"]) for u in units}
    scaffolding: set[str] = set()
    namespace.update(compat.make_helpers(notes))
    for unit in units:
        label, first, source = str(unit["label"]), int(unit["line"]), str(unit["source"])
        try:
            tree = ast.parse(source, filename=label)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:  # the grader checked it
            problems.append(_record("load", label, first, describe_exception(exc), []))
            continue
        ast.increment_lineno(tree, first - 1)
        flags = _future_flags(tree)
        for node in kept_statements(tree):
            names = bound_names(node)
            try:
                module = compat.transform(ast.Module([node], []), label)
                code = compile(module, label, "exec", flags=flags, dont_inherit=True)
                exec(code, namespace)
            except ImportError as exc:
                # An import of the lab's own functions from cnnlab is an attempt at the answer: a problem.
                kind = "load" if _from_cnnlab(node) and set(names) & LAB_FUNCTIONS else "import"
                problems.append(_record(kind, label, node.lineno, describe_exception(exc), names))
                scaffolding |= set(names)
            except NameError as exc:
                # A class built on a name a skipped import would have bound (the notebook's harness).
                kind = "import" if exc.name in scaffolding else "load"
                problems.append(_record(kind, label, node.lineno, describe_exception(exc, labels), names))
            except BaseException as exc:
                problems.append(_record("load", label, node.lineno, describe_exception(exc, labels), names))
    return problems


LAB_FUNCTIONS = frozenset(
    {
        "zero_pad",
        "conv_single_step",
        "conv_forward",
        "conv_backward",
        "pool_forward",
        "pool_backward",
        "create_mask_from_window",
        "distribute_value",
    }
)


def _from_cnnlab(node: ast.stmt) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and (node.module or "").split(".")[0] == "cnnlab"
    return isinstance(node, ast.Import) and any(a.name.split(".")[0] == "cnnlab" for a in node.names)


def _record(kind: str, where: str, line: int, message: str, names: list[str]) -> dict[str, Any]:
    return {"kind": kind, "where": where, "line": line, "message": message, "names": names}
