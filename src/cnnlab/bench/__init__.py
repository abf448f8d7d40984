"""Benchmarks behind ``make bench`` and ``cnnlab bench``: ratios measured side by side in one run.

Each module listed in :data:`BENCHMARKS` exposes ``run(quick: bool = False) -> list[dict]``; a row is::

    {"benchmark": "ops", "case": "conv1 fwd+bwd: loops / vectorized", "value": 1234.5, "unit": "x",
     "target": ">= 1000", "ok": True, "note": "..."}

``ok`` is ``None`` where a row has no target. Benchmarks never run inside the unit tests.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable

BENCHMARKS = ["ops", "data", "train_step", "torch_train", "explore", "grading"]


def timeit(fn: Callable[[], object], repeat: int = 5, warmup: int = 1, min_time: float = 0.0) -> float:
    """Best wall time of ``fn()`` in seconds over ``repeat`` runs (after ``warmup`` runs)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    start_all = time.perf_counter()
    n = 0
    while n < repeat or time.perf_counter() - start_all < min_time:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        n += 1
    return best


def row(
    benchmark: str,
    case: str,
    value: float | None,
    unit: str,
    target: str = "",
    ok: bool | None = None,
    note: str = "",
) -> dict:
    return {
        "benchmark": benchmark,
        "case": case,
        "value": value,
        "unit": unit,
        "target": target,
        "ok": ok,
        "note": note,
    }


def run_all(only: Iterable[str] | None = None, quick: bool = False) -> list[dict]:
    """Run the benchmarks named in ``only`` (all by default) and return their rows."""
    names = list(only) if only else BENCHMARKS
    rows: list[dict] = []
    for name in names:
        if name not in BENCHMARKS:
            raise ValueError(f"unknown benchmark {name!r}; choose from {BENCHMARKS}")
        try:
            module = importlib.import_module(f"cnnlab.bench.{name}")
        except ModuleNotFoundError as exc:
            rows.append(row(name, "(not available)", None, "", note=str(exc)))
            continue
        rows.extend(module.run(quick=quick))
    return rows


def format_table(rows: list[dict]) -> str:
    """Rows as a plain-text table."""
    header = ["benchmark", "case", "value", "unit", "target", "ok", "note"]
    cells = []
    for r in rows:
        v = r["value"]
        value = "-" if v is None else (f"{v:,.1f}" if abs(v) >= 100 else f"{v:.3g}")
        ok = {True: "yes", False: "NO", None: ""}[r["ok"]]
        cells.append([r["benchmark"], r["case"], value, r["unit"], r["target"], ok, r["note"]])
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)) for cell in cells]
    return "\n".join(lines)
