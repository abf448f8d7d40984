"""The same marks on every supported NumPy: a submission's NumPy-1 idioms run as NumPy 1.26 ran them.

The course the lab comes from tells students to "cast b to a float()". On NumPy 2, ``float()`` of a
``(1, 1, 1)`` array raises, and so does storing a size-1 array into one element of ``Z``; ``np.float``
and friends are gone. Code that is right in every other way would lose marks on one NumPy and keep them
on another. :func:`transform` rewrites a submission's syntax tree before it runs so that these few
constructs go through helpers that behave exactly as NumPy 1.26 does, on *every* NumPy, and note where
they were used:

- ``float(x)`` / ``int(x)`` with a size-1 array of one or more dimensions -> ``float(x.item())``;
- ``A[idx] = v`` and ``A[idx] op= v`` where ``A`` is an array, ``v`` a size-1 array of one or more
  dimensions and ``A[idx]`` one element -> the element gets ``v``'s single value;
- ``np.float``, ``np.int``, ``np.object``, ``np.complex``, ``np.str`` -> the builtins; ``np.bool`` (NumPy 2's
  name, missing in 1.24-1.26) -> ``np.bool_``; NumPy 2's removals ``np.float_``, ``np.complex_``,
  ``np.NaN``, ``np.Inf``, ``np.product``, ... -> their current names;
- ``float()`` / ``int()`` of an array of more than one element fails with one message on every NumPy.

The decision and the note depend only on the values, never on which NumPy is installed, so a report is
the same on 1.26 and on 2.x. The values are what NumPy 1.26 computes, so no wrong answer can pass. Two
details differ from plain Python: in ``A[idx] op= v`` the value ``v`` is evaluated before ``A[idx]`` is
read, and slices inside such subscripts are built with the builtin ``slice`` even where a student named
a variable ``slice``. Notes travel to the grader, which prints them with the way to write it for NumPy 2.
"""

from __future__ import annotations

import ast
import builtins
import operator
import types
from typing import Any

import numpy as np

__all__ = ["HELPERS", "Notes", "transform"]

_SCALAR = "__cnnlab_scalar__"
_STORE = "__cnnlab_store__"
_AUGSTORE = "__cnnlab_augstore__"
_ATTR = "__cnnlab_attr__"
_SLICE = "__cnnlab_slice__"

_ALIASES = {  # removed in NumPy 1.24 (np.bool came back in 2.0 as np.bool_)
    "float": "float",
    "int": "int",
    "object": "object",
    "complex": "complex",
    "str": "str",
    "long": "int",
    "unicode": "str",
}
_RENAMED = {  # removed in NumPy 2.0 -> the name that works on both
    "float_": "float64",
    "complex_": "complex128",
    "NaN": "nan",
    "NAN": "nan",
    "Inf": "inf",
    "Infinity": "inf",
    "infty": "inf",
    "PINF": "inf",
    "product": "prod",
    "cumproduct": "cumprod",
    "sometrue": "any",
    "alltrue": "all",
    "round_": "round",
}
_AUG_OPS = {
    ast.Add: operator.iadd,
    ast.Sub: operator.isub,
    ast.Mult: operator.imul,
    ast.Div: operator.itruediv,
    ast.FloorDiv: operator.ifloordiv,
    ast.Mod: operator.imod,
    ast.Pow: operator.ipow,
    ast.MatMult: operator.imatmul,
}
_AUG_NAMES = {op: f.__name__ for op, f in _AUG_OPS.items()}


class Notes:
    """Where the submission used a NumPy-1 idiom: one line each, in the order first met."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._seen: set[tuple[str, int, str]] = set()

    def add(self, where: str, line: int, what: str) -> None:
        key = (where, line, what)
        if key not in self._seen:
            self._seen.add(key)
            self.lines.append(f"{where}, line {line}: {what}")

    def take(self) -> list[str]:
        out, self.lines = self.lines, []
        return out


def _is_numpy(value: Any) -> bool:
    return isinstance(value, types.ModuleType) and value.__name__ == "numpy"


def _one_value(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.ndim > 0 and value.size == 1


def make_helpers(notes: Notes) -> dict[str, Any]:
    """The helpers a transformed unit calls (each gets its ``where`` and line), noting into ``notes``."""

    def scalar(func: Any, value: Any, where: str, line: int) -> Any:
        if func in (builtins.float, builtins.int) and isinstance(value, np.ndarray) and value.size != 1:
            # NumPy 1.26 and 2.x word this error differently; the report must not depend on it.
            raise TypeError(
                f"{func.__name__}() of an array of shape {value.shape}: only one-element arrays convert"
            )
        if func in (builtins.float, builtins.int) and _one_value(value):
            notes.add(
                where,
                line,
                f"{func.__name__}() of an array of shape {value.shape}: NumPy 2 refuses it; "
                f"write {func.__name__}(x.item()) or x.item()",
            )
            return func(value.reshape(()).item())
        return func(value)

    def store(value: Any, target: Any, index: Any, where: str, line: int) -> None:
        if isinstance(target, np.ndarray) and _one_value(value) and np.ndim(target[index]) == 0:
            notes.add(
                where,
                line,
                f"an array of shape {value.shape} stored into one element: NumPy 2 refuses it; "
                "store a number (x.item())",
            )
            value = value.reshape(())
        target[index] = value

    def augstore(target: Any, index: Any, op: str, value: Any, where: str, line: int) -> None:
        store(getattr(operator, op)(target[index], value), target, index, where, line)

    def attr(value: Any, name: str, where: str, line: int) -> Any:
        if _is_numpy(value):
            if name == "bool":  # NumPy 2's name for np.bool_, missing in 1.24-1.26: the same on both
                notes.add(where, line, "np.bool is missing in NumPy 1.24-1.26: write np.bool_ (or bool)")
                return np.bool_
            if name in _ALIASES:
                notes.add(where, line, f"np.{name} was removed in NumPy 1.24: write {_ALIASES[name]}")
                return getattr(builtins, _ALIASES[name])
            if name in _RENAMED:
                notes.add(where, line, f"np.{name} was removed in NumPy 2.0: write np.{_RENAMED[name]}")
                return getattr(value, _RENAMED[name])
        return getattr(value, name)

    return {_SCALAR: scalar, _STORE: store, _AUGSTORE: augstore, _ATTR: attr, _SLICE: builtins.slice}


HELPERS = (_SCALAR, _STORE, _AUGSTORE, _ATTR, _SLICE)


def _name(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


def _index_expr(node: ast.expr) -> ast.expr:
    """A subscript's index as an ordinary expression (``1:3`` -> ``slice(1, 3, None)``)."""
    if isinstance(node, ast.Slice):
        parts = [p if p is not None else ast.Constant(None) for p in (node.lower, node.upper, node.step)]
        return ast.Call(_name(_SLICE), parts, [])  # not the name `slice`: a student may have one
    if isinstance(node, ast.Tuple):
        return ast.Tuple([_index_expr(e) for e in node.elts], ast.Load())
    return node


class _Rewrite(ast.NodeTransformer):
    def __init__(self, where: str):
        self.where = ast.Constant(where)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        one_arg = len(node.args) == 1 and not node.keywords and not isinstance(node.args[0], ast.Starred)
        if isinstance(func, ast.Name) and func.id in ("float", "int") and one_arg:
            args = [func, node.args[0], self.where, ast.Constant(node.lineno)]
            return ast.copy_location(ast.Call(_name(_SCALAR), args, []), node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        aliased = node.attr in _ALIASES or node.attr in _RENAMED or node.attr == "bool"
        if isinstance(node.ctx, ast.Load) and aliased:
            args = [node.value, ast.Constant(node.attr), self.where, ast.Constant(node.lineno)]
            return ast.copy_location(ast.Call(_name(_ATTR), args, []), node)
        return node

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        self.generic_visit(node)
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Subscript):
            target = node.targets[0]
            args = [
                node.value,
                target.value,
                _index_expr(target.slice),
                self.where,
                ast.Constant(node.lineno),
            ]
            call = ast.Call(_name(_STORE), args, [])
            return ast.copy_location(ast.Expr(call), node)
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        op = _AUG_NAMES.get(type(node.op))
        if isinstance(node.target, ast.Subscript) and op is not None:
            target = node.target
            # The value is evaluated before A[idx] is read (Python reads it first); only a value with a
            # side effect on A[idx] itself could tell, and a lambda would change scoping instead.
            args = [
                target.value,
                _index_expr(target.slice),
                ast.Constant(op),
                node.value,
                self.where,
                ast.Constant(node.lineno),
            ]
            return ast.copy_location(ast.Expr(ast.Call(_name(_AUGSTORE), args, [])), node)
        return node


def transform(tree: ast.Module, where: str) -> ast.Module:
    """``tree`` (from ``where``) with the NumPy-1 idioms routed through the helpers (module docstring)."""
    tree = _Rewrite(where).visit(tree)
    return ast.fix_missing_locations(tree)
