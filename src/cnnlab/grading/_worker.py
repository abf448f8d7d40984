"""The sandbox's child process: loads one submission and calls its functions on request.

Run by path (``python -I .../_worker.py CMD_FD RES_FD``, see :mod:`cnnlab.grading.sandbox`), so it imports
only the standard library and NumPy, never cnnlab; the parent imports it as a module for :func:`encode`,
:func:`decode` and :func:`kept_statements`.

Protocol: one JSON object per line. The parent's first line on ``CMD_FD`` is
``{"token", "limits", "allow_cnnlab", "chunks": [[label, source], ...]}``; the worker sets its resource
limits, loads the chunks and answers ``{"token", "event": "loaded", "problems": [...]}`` on ``RES_FD``.
Then, per line ``{"call", "function", "args", "kwargs"}``, it answers
``{"token", "event": "result", "call", "ok": true, "value"}`` or ``{..., "ok": false, "reason"}``. Values
travel in the tagged JSON of :func:`encode` (arrays as ``.npy`` bytes in base64, read back with
``allow_pickle=False``); the parent hashes and judges them, so nothing the worker says can mark itself as
passed. The token keeps stray output from being taken for an answer.
"""

from __future__ import annotations

import ast
import base64
import builtins
import contextlib
import io
import json
import os
import sys
import traceback
from typing import Any

import numpy as np

MAX_RESULT_BYTES = 64 * 2**20
MAX_DEPTH = 8
MAX_STR = 2000
#: The functions the lab grades; importing one of them from cnnlab is worth a note.
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
_KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


# --------------------------------------------------------------------------------------------- values


class Opaque:
    """Stands for a returned object that cannot travel (a class instance, a generator...)."""

    def __init__(self, description: str):
        self.description = description

    def __repr__(self) -> str:
        return self.description


def encode(value: Any, budget: list[int] | None = None, depth: int = 0) -> Any:
    """``value`` as tagged JSON.

    Arrays and NumPy scalars become ``{"__nd__": base64 .npy}``, tuples ``{"__tuple__": [...]}``, dicts
    ``{"__dict__": [[k, v], ...]}``, anything else ``{"__other__": "a <type>"}``.

    Raises ``ValueError`` once the arrays exceed :data:`MAX_RESULT_BYTES` in total.
    """
    budget = [MAX_RESULT_BYTES] if budget is None else budget
    if depth > MAX_DEPTH:
        return {"__other__": "a structure nested too deeply"}
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else float(value)
    if isinstance(value, str):
        return value[:MAX_STR]
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        if arr.dtype.hasobject or arr.dtype.fields is not None:
            return {"__other__": f"a NumPy array of dtype {arr.dtype}"}
        budget[0] -= arr.nbytes
        if budget[0] < 0:
            raise ValueError(f"the result is larger than {MAX_RESULT_BYTES // 2**20} MiB")
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
        return {"__nd__": base64.b64encode(buf.getvalue()).decode("ascii")}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, budget, depth + 1) for v in value[:64]]}
    if isinstance(value, list):
        return [encode(v, budget, depth + 1) for v in value[:100_000]]
    if isinstance(value, dict):
        items = list(value.items())[:64]
        return {"__dict__": [[encode(k, budget, depth + 1), encode(v, budget, depth + 1)] for k, v in items]}
    return {"__other__": f"a {type(value).__name__}"}


def decode(value: Any) -> Any:
    """The inverse of :func:`encode` (``__other__`` becomes an :class:`Opaque`)."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__nd__" in value:
        arr = np.load(io.BytesIO(base64.b64decode(value["__nd__"])), allow_pickle=False)
        return arr[()] if arr.ndim == 0 else arr
    if "__tuple__" in value:
        return tuple(decode(v) for v in value["__tuple__"])
    if "__dict__" in value:
        out = {}
        for k, v in value["__dict__"]:
            k = decode(k)
            out[k if isinstance(k, (str, int, float, bool, type(None))) else repr(k)] = decode(v)
        return out
    return Opaque(str(value.get("__other__", "an unknown object")))


# --------------------------------------------------------------------------------------------- loading


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


def _future_flags(tree: ast.Module) -> int:
    import __future__

    flags = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                feature = getattr(__future__, alias.name, None)
                flags |= getattr(feature, "compiler_flag", 0)
    return flags


def _where(exc: BaseException, labels: set[str]) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in labels]
    return f" (at {frames[-1].filename}, line {frames[-1].lineno})" if frames else ""


def describe_exception(exc: BaseException, labels: set[str] = frozenset(), limit: int = 200) -> str:
    """One line: ``called sys.exit(3)``, ``NotImplementedError``, ``ValueError: msg (at f.py, line 7)``."""
    if isinstance(exc, SystemExit):
        text = f"called sys.exit({exc.code!r})" if exc.code is not None else "called sys.exit()"
    else:
        message = " ".join(str(exc).split())
        text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text + _where(exc, labels)


def _cnnlab_import_names(node: ast.stmt) -> set[str] | None:
    """The names an ``import cnnlab...`` / ``from cnnlab... import`` binds, or None for other statements."""
    module = (node.module or "") if isinstance(node, ast.ImportFrom) and node.level == 0 else ""
    if module == "cnnlab" or module.startswith("cnnlab."):
        return {alias.asname or alias.name for alias in node.names}
    if isinstance(node, ast.Import):
        mods = [alias for alias in node.names if alias.name == "cnnlab" or alias.name.startswith("cnnlab.")]
        if mods:
            return {alias.asname or alias.name.split(".")[0] for alias in mods}
    return None


def load(chunks: list[list[str]], namespace: dict[str, Any]) -> list[str]:
    """Run the kept statements of every chunk in ``namespace``; return the problems met (never raise).

    The lab's notebook imports cnnlab's harness (``from cnnlab.grading import marks``, the trainers)
    beside the student's functions. Those imports are refused in the sandbox without a note, and so is a
    definition that fails only because it names what such an import would have bound (a class deriving
    from ``cnnlab.training.Callbacks``, say): they are the notebook's scaffolding, not the student's work.
    An import of one of the lab's functions from cnnlab (an attempt to hand in cnnlab's answer) is noted.
    """
    problems = []
    harness: set[str] = set()
    for label, source in chunks:
        try:
            tree = ast.parse(source, filename=label)
        except (SyntaxError, ValueError) as exc:  # the parent checked; kept for safety
            problems.append(f"{label}: {describe_exception(exc)}")
            continue
        flags = _future_flags(tree)
        for node in kept_statements(tree):
            try:
                code = compile(ast.Module([node], []), label, "exec", flags=flags, dont_inherit=True)
                exec(code, namespace)
            except ImportError as exc:
                names = _cnnlab_import_names(node)
                if names is None or names & LAB_FUNCTIONS:
                    problems.append(f"{label}, line {node.lineno}: {describe_exception(exc)}")
                else:
                    harness |= names
            except NameError as exc:
                if exc.name not in harness:
                    problems.append(f"{label}, line {node.lineno}: {describe_exception(exc)}")
            except BaseException as exc:
                problems.append(f"{label}, line {node.lineno}: {describe_exception(exc)}")
    return problems


# ------------------------------------------------------------------------------------------------ main


class _BlockCnnlab:
    """Meta-path finder that keeps submissions from importing cnnlab's answers."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "cnnlab" or name.startswith("cnnlab."):
            raise ImportError("cnnlab is not available to submissions")


def _set_limits(limits: dict[str, Any]) -> None:
    import resource

    def lower(which: int, value: int) -> None:
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, hard))

    lower(resource.RLIMIT_CORE, 0)
    lower(resource.RLIMIT_AS, int(limits["memory_mb"]) * 2**20)
    lower(resource.RLIMIT_FSIZE, int(limits["fsize_mb"]) * 2**20)
    lower(resource.RLIMIT_CPU, int(limits["cpu_s"]))


def _send(fd: int, message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode("utf-8")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main(argv: list[str]) -> int:
    cmd = os.fdopen(int(argv[1]), "rb")
    res_fd = int(argv[2])
    hello = json.loads(cmd.readline())
    token = hello["token"]
    _set_limits(hello["limits"])
    if not hello.get("allow_cnnlab"):
        sys.meta_path.insert(0, _BlockCnnlab())
    chunks = hello["chunks"]
    labels = {label for label, _ in chunks}
    # The lab's first cell imports NumPy as np; a .py of bare functions may rely on it.
    namespace: dict[str, Any] = {"__name__": "submission", "__builtins__": builtins, "np": np}
    problems = load(chunks, namespace)
    _flush()
    _send(res_fd, {"token": token, "event": "loaded", "problems": problems})
    for line in cmd:
        request = json.loads(line)
        reply: dict[str, Any] = {"token": token, "event": "result", "call": request["call"]}
        func = namespace.get(request["function"])
        if not callable(func):
            reply.update(ok=False, reason=f"missing: {request['function']} is not defined")
        else:
            try:
                value = func(*decode(request["args"]), **decode(request["kwargs"]))
                reply.update(ok=True, value=encode(value))
            except BaseException as exc:
                reply = {**reply, "ok": False, "reason": describe_exception(exc, labels)}
        _flush()
        _send(res_fd, reply)
    return 0


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or replaced stream is the student's doing
            stream.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
