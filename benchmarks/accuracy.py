"""``make accuracy``: the accuracy and speed figures the README and docs quote, written to docs/figures.md.

Trains on the lab's Kaggle photos (``$CNNLAB_REAL_DATA`` or ``../shared/data/cats-and-dogs``), one
thread per run (the default, see the threads table), and writes ``docs/figures.md`` (a table) and
``docs/figures.json`` (the numbers), stamped with the commit they were measured at. Regenerate them after
any change that moves them.

- ``lab`` recipe, PyTorch, seeds 2023-2025 (~16 s each);
- ``improved`` recipe, PyTorch, seeds 2023-2025 (~3 min each);
- ``improved`` recipe, NumPy, the first seed only (``--numpy-seeds``, several minutes each);
- PyTorch threads: the ``lab`` recipe for 4 epochs with 1 thread and with every CPU, on the machine as it
  is and with one busy process per CPU beside it (what ``default_torch_threads`` is chosen from).

Usage: python benchmarks/accuracy.py [--seeds 2023,2024,2025] [--numpy-seeds 2023] [--quick] [--render]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cnnlab.bench import record
from cnnlab.recipes import get_recipe
from cnnlab.runs import evaluate_run
from cnnlab.training import TrainSettings, fit

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def commit() -> str:
    return record.training_commit(ROOT)


def test_accuracy(backend: str, recipe: str, seed: int, data: Path, epochs: int | None = None) -> dict:
    """Train one run into a temporary directory; its test accuracy and wall time."""
    with tempfile.TemporaryDirectory(prefix="cnnlab-acc-") as tmp:
        settings = TrainSettings(
            backend=backend,
            model="cnn",
            recipe=get_recipe(recipe).with_overrides(seed=seed, epochs=epochs),
            data=str(data),
            out=Path(tmp) / "run",
            device="cpu",
            threads=1,
        )
        t0 = time.perf_counter()
        run = fit(settings)
        seconds = time.perf_counter() - t0
        report = evaluate_run(run).report
    return {
        "backend": backend,
        "recipe": recipe,
        "seed": seed,
        "epochs": settings.recipe.epochs,
        "test_accuracy": report["accuracy"],
        "test_images": report["num_samples"],
        "seconds": round(seconds, 1),
    }


def threads_table(data: Path, epochs: int = 4) -> list[dict]:
    """Seconds of the lab recipe (PyTorch, ``epochs``) with 1 thread and with every CPU, as is (best of two)
    and with one busy process per CPU beside it (one try: it is slow)."""
    from cnnlab.torch_backend.device import cpus

    rows = []
    for busy in (False, True):
        hogs = (
            [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cpus())]
            if busy
            else []
        )
        try:
            for threads in sorted({1, cpus()}):
                times = []
                for _ in range(1 if busy else 2):
                    with tempfile.TemporaryDirectory(prefix="cnnlab-thr-") as tmp:
                        s = TrainSettings(
                            backend="torch",
                            model="cnn",
                            recipe=get_recipe("lab").with_overrides(epochs=epochs),
                            data=str(data),
                            out=Path(tmp) / "run",
                            device="cpu",
                            threads=threads,
                        )
                        t0 = time.perf_counter()
                        fit(s)
                        times.append(time.perf_counter() - t0)
                rows.append(
                    {"machine": "busy" if busy else "as is", "threads": threads, "seconds": min(times)}
                )
        finally:
            for h in hogs:
                h.kill()
    return rows


def _summary(rows: list[dict]) -> str:
    accs = [100 * r["test_accuracy"] for r in rows]
    each = " / ".join(f"{a:.2f}" for a in accs)
    if len(accs) > 1:
        return f"{statistics.fmean(accs):.1f} ± {statistics.stdev(accs):.1f}% ({each})"
    return f"{each}%"


def write(results: dict) -> None:
    DOCS.mkdir(exist_ok=True)
    (DOCS / "figures.json").write_text(json.dumps(results, indent=2) + "\n")
    incomplete = "**Incomplete**: the command was stopped before its last run; the rows below were measured."
    lines = [
        "# Measured figures (written by `make accuracy`; do not edit by hand)",
        "",
        *([] if results.get("complete", True) else [incomplete, ""]),
        f"Commit `{results['commit']}`, {results['date']}, {results['machine']}. Test accuracy on the lab's",
        "Kaggle photos (557 train, 140 test), `cnn` model (548,258 parameters), one thread per run; the",
        "runs are deterministic, so the same commit gives the same numbers.",
        "",
        "| recipe | backend | seeds | test accuracy (mean ± sd; each seed) | seconds per run |",
        "|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results["runs"]:
        groups.setdefault((r["recipe"], r["backend"]), []).append(r)
    for (recipe, backend), rows in groups.items():
        seeds = ", ".join(str(r["seed"]) for r in rows)
        secs = statistics.fmean(r["seconds"] for r in rows)
        epochs = rows[0]["epochs"]
        lines.append(
            f"| `{recipe}` ({epochs} epochs) | {backend} | {seeds} | {_summary(rows)} | {secs:.0f} |"
        )
    if results.get("threads"):
        lines += [
            "",
            "PyTorch threads: the `lab` recipe for 4 epochs (best of two), with one busy process per CPU",
            'beside it or without ("as is": the shared machine with whatever else runs on it):',
            "",
            "| machine | threads | seconds |",
            "|---|---|---|",
        ]
        lines += [f"| {r['machine']} | {r['threads']} | {r['seconds']:.1f} |" for r in results["threads"]]
    (DOCS / "figures.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="2023,2024,2025")
    parser.add_argument("--numpy-seeds", default="2023")
    parser.add_argument("--quick", action="store_true", help="2 epochs per run, for checking the script")
    parser.add_argument("--render", action="store_true", help="only rewrite figures.md from figures.json")
    args = parser.parse_args()
    if args.render:
        write(json.loads((DOCS / "figures.json").read_text()))
        return 0
    data = record.required_photos()
    if data is None:
        return 1
    epochs = 2 if args.quick else None
    seeds = [int(s) for s in args.seeds.split(",") if s]
    runs = []
    plan = [("torch", "lab", s) for s in seeds] + [("torch", "improved", s) for s in seeds]
    plan += [("numpy", "improved", int(s)) for s in args.numpy_seeds.split(",") if s]
    results = {
        "commit": commit(),  # of the code that runs: taken before the first run
        "date": dt.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPUs",
        "complete": False,
        "runs": runs,
        "threads": [],
    }
    # the lab recipe first, then the threads table (measured before the long runs), then the rest; the
    # file is rewritten after each step and marked incomplete until the last one
    for i, (backend, recipe, seed) in enumerate(plan):
        r = test_accuracy(backend, recipe, seed, data, epochs)
        line = f"{recipe:9s} {backend:6s} seed {seed}: {100 * r['test_accuracy']:.2f}% ({r['seconds']:.0f} s)"
        print(line, flush=True)
        runs.append(r)
        if args.quick:
            continue
        if i == len(seeds) - 1:
            results["threads"] = threads_table(data)
            print("threads:", json.dumps(results["threads"]), flush=True)
        results["complete"] = i == len(plan) - 1
        write(results)
    if args.quick:
        print(json.dumps(results, indent=2))
        return 0
    print(f"wrote {DOCS / 'figures.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
