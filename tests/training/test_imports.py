"""Imports go one way: the import graph of ``cnnlab``, read from the source, has no cycle.

Every ``import`` counts, at module level or inside a function (a lazy import that hides a cycle is
still a cycle), and so does ``if TYPE_CHECKING:``. An edge goes to the module named; ``from pkg import
name`` goes to ``pkg.name`` when that is a module, else to ``pkg``. Importing ``pkg.mod`` from outside
``pkg`` also runs ``pkg/__init__.py``: that is an edge to ``pkg`` too (a package's ``__init__`` that
re-exports a loop makes every importer of its modules an importer of the loop).
"""

from __future__ import annotations

import ast
from pathlib import Path

import cnnlab

SRC = Path(cnnlab.__file__).resolve().parent


def modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for a in node.names:
                    if f"{target}.{a.name}" in mods:
                        graph[name].add(f"{target}.{a.name}")
                    elif target in mods:
                        graph[name].add(target)
    for name in graph:  # importing pkg.mod from outside pkg runs pkg/__init__.py first
        for target in list(graph[name]):
            parts = target.split(".")
            for i in range(2, len(parts)):
                package = ".".join(parts[:i])
                if package in mods and not (name == package or name.startswith(package + ".")):
                    graph[name].add(package)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (or a self-import): Tarjan's."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_reader_finds_a_cycle_hidden_in_a_lazy_import():
    graph = {"a": {"b"}, "b": set(), "c": set()}
    assert cycles(graph) == []
    graph["b"].add("a")  # e.g. ``def f(): from a import x`` inside b
    assert cycles(graph) == [["a", "b"]]


def test_the_graph_sees_lazy_imports():
    graph = import_graph()
    # cnnlab.backends imports each backend's engine only inside a function
    assert "cnnlab.nn.engine" in graph["cnnlab.backends"]
    assert "cnnlab.torch_backend.engine" in graph["cnnlab.backends"]


def test_the_graph_sees_the_package_inits_an_import_runs():
    graph = import_graph()
    # cnnlab.backends imports cnnlab.nn.engine: cnnlab/nn/__init__.py runs first
    assert "cnnlab.nn" in graph["cnnlab.backends"]
    # inside a package its own __init__ is not an extra edge (it is already running)
    assert "cnnlab.ops" not in graph["cnnlab.ops.loops"]


def test_no_import_cycle_in_cnnlab():
    found = cycles(import_graph())
    assert found == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_floor_and_the_layers():
    graph = import_graph()
    assert graph["cnnlab.rundir"] <= {"cnnlab.errors"}  # the floor
    for trainer_part in ("cnnlab.nn.engine", "cnnlab.torch_backend.engine", "cnnlab.training.loop"):
        assert not any(m.startswith("cnnlab.runs") for m in graph[trainer_part]), trainer_part
    for backend_part in ("cnnlab.nn.engine", "cnnlab.torch_backend.engine", "cnnlab.nn.ema"):
        assert not any(m.startswith("cnnlab.training") for m in graph[backend_part]), backend_part
    for inference in ("cnnlab.nn.predictor", "cnnlab.torch_backend.predictor"):
        trainers = {"cnnlab.nn.engine", "cnnlab.torch_backend.engine", "cnnlab.nn.trainer"}
        trainers.add("cnnlab.torch_backend.trainer")
        assert not any(m in trainers or m.startswith("cnnlab.training") for m in graph[inference]), inference
