"""``make selection``: the cross-validation record of how the ``improved`` recipe was chosen.

Each candidate is ``RECIPES["improved"]`` with some fields changed (:data:`CANDIDATES`); each is
cross-validated with :func:`cnnlab.training.crossval.cross_validate` (PyTorch, CPU, one thread, 5
stratified folds of the 557 training photos, scored by the final epoch's validation accuracy; the test
photos are never read). The rule of docs/improved-recipe.md (:func:`cnnlab.training.crossval.choose`) is
applied to the results: the candidates whose mean is within one standard error (``sd / sqrt(folds)``)
of the best mean are tied, and among them the one whose folds agree best (smallest sd) is chosen. The
recipe itself is also cross-validated with a second seed (folds, weights, augmentation), and on its ten
folds' final models test-time augmentation is compared (none against the mirror average) without
retraining.

Writes ``docs/selection.md`` (the tables) and ``docs/selection.json`` (every fold), stamped with the
commit, rewritten after each candidate and marked incomplete until the last. The fold runs stay in
``runs/selection/<candidate>``: stopping the command (Ctrl-C) and running it again continues where it
stopped (finished folds are kept, a cut fold resumes). About 3 hours of CPU: ``--jobs 2`` runs two
candidates at once (one thread each).

Usage: python benchmarks/selection.py [--jobs 2] [--only A,C] [--folds 5] [--epochs N] [--render]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from cnnlab.bench import record

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RUNS = ROOT / "runs" / "selection"


@dataclass(frozen=True)
class Candidate:
    key: str
    description: str
    changes: dict[str, Any] = field(default_factory=dict)  # fields of RECIPES["improved"] that differ
    seed: int = 2023  # of the folds, weights and augmentation


_A = {"epochs": 100, "mixup": 0.0, "ema": 0.0}
_D = {**_A, "augment_scale": 0.6, "epochs": 150}

#: What was compared. C is ``RECIPES["improved"]`` itself; ``C2`` is C with a second seed (of the folds,
#: the weights and the augmentation alike).
CANDIDATES: tuple[Candidate, ...] = (
    Candidate("A", "the previous `improved`: 100 epochs, no mixup, no average", _A),
    Candidate("B", "A + mixup 0.2, 200 epochs", {"ema": 0.0}),
    Candidate("C", "B + weight average 0.99 (= `improved`)", {}),
    Candidate("D", "A + random resized crop (area 0.6-1), 150 epochs", _D),
    Candidate("E", "D + mixup 0.2 + average 0.99, 200 epochs", {"augment_scale": 0.6}),
    Candidate("F", "C with 300 epochs", {"epochs": 300}),
    Candidate("G", "C with mixup 0.4", {"mixup": 0.4}),
    Candidate("H", "D + average 0.99, 200 epochs", {**_D, "ema": 0.99, "epochs": 200}),
    Candidate("I", "D with 200 epochs", {**_D, "epochs": 200}),
    Candidate("J", "C + random resized crop (area 0.75-1)", {"augment_scale": 0.75}),
    Candidate("C2", "C with seed 2024 (folds, weights, augmentation)", {}, seed=2024),
)
RECIPE_KEY = "C"  # the candidate that is RECIPES["improved"]
SECOND_SEED = "C2"


def commit() -> str:
    return record.training_commit(ROOT)


def candidate_settings(c: Candidate, data: Path, root: Path, epochs: int | None = None):
    from cnnlab.recipes import RECIPES
    from cnnlab.training import TrainSettings

    recipe = RECIPES["improved"].with_overrides(**c.changes, seed=c.seed)
    if epochs is not None:
        recipe = recipe.with_overrides(epochs=epochs)
    out = root / c.key
    resume = (out / "cv.json").is_file()
    return TrainSettings(
        backend="torch",
        model="cnn",
        recipe=recipe,
        data=str(data),
        out=out,
        device="cpu",
        threads=1,
        resume=resume,
    )


def _stamp(path: Path) -> str:
    """Add this invocation's commit to ``path`` (one per line, each once); all of them, comma-separated."""
    seen = path.read_text().split() if path.is_file() else []
    if commit() not in seen:
        seen.append(commit())
        path.write_text("\n".join(seen) + "\n")
    return ", ".join(seen)


def cross_validate_candidate(
    c: Candidate, data: Path, root: Path, folds: int, epochs: int | None
) -> dict[str, Any]:
    """Cross-validate one candidate into ``root/<key>`` (continuing a stopped one)."""
    from cnnlab.training.crossval import cross_validate

    settings = candidate_settings(c, data, root, epochs)
    root.mkdir(parents=True, exist_ok=True)
    commits = _stamp(root / f"{c.key}.commit")  # every commit a fold of it ran at

    def on_fold(f, total: int) -> None:
        print(f"{c.key} fold {f.fold}/{total}: {100 * f.final_val_acc:.1f}% ({f.seconds:.0f} s)", flush=True)

    cv = cross_validate(settings, folds, on_fold=on_fold)
    return {
        "key": c.key,
        "description": c.description,
        "changes": c.changes,
        "seed": c.seed,
        "epochs": settings.recipe.epochs,
        "commit": commits,
        "mean": cv.mean,
        "sd": cv.std,
        "folds": [f.final_val_acc for f in cv.folds],
        "seconds": sum(f.seconds for f in cv.folds),
    }


def tta_comparison(keys: list[str], root: Path) -> dict[str, Any]:
    """Validation accuracy of the final (averaged) models of ``keys``' folds without and with the mirror.

    Each fold's validation images come from its own ``config.json`` (data, image size, fold), through the
    one split rule (:meth:`TrainSettings.split`).
    """
    import numpy as np
    import torch

    from cnnlab.data import load_dataset
    from cnnlab.rundir import RunDir
    from cnnlab.runs.predictor import load_predictor
    from cnnlab.training import TrainSettings

    torch.set_num_threads(1)
    correct = {"none": 0, "mirror": 0}
    total = folds = 0
    datasets: dict[tuple[str | None, int], Any] = {}  # every fold reads the same photos: decode them once
    for key in keys:
        for fold_dir in sorted((root / key).glob("fold-*")):
            run = RunDir.open(fold_dir)
            settings = TrainSettings.from_config(run.config)
            where = (settings.data, int(run.config["image_size"]))
            if where not in datasets:
                datasets[where] = load_dataset(where[0], image_size=where[1])
            ds = datasets[where]
            _, val_idx = settings.split(ds.train.labels)
            images, labels = ds.train.images[val_idx], ds.train.labels[val_idx]
            # "last": the model the fold ended with (the weight average, cnnlab.engine.average)
            predictor = load_predictor(run, "last")
            for name, flip in (("none", False), ("mirror", True)):
                predictor.tta_flip = flip
                correct[name] += int((np.argmax(predictor.predict_proba(images), 1) == labels).sum())
            total += labels.size
            folds += 1
    return {"folds": folds, "images": total, **{k: v / total for k, v in correct.items()}}


def choose(rows: list[dict[str, Any]]):
    """The rule (:func:`cnnlab.training.crossval.choose`) over complete candidates' fold scores."""
    from cnnlab.training.crossval import choose as one_standard_error

    return one_standard_error({r["key"]: r["folds"] for r in rows})


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def write(results: dict[str, Any]) -> None:
    DOCS.mkdir(exist_ok=True)
    (DOCS / "selection.json").write_text(json.dumps(results, indent=2) + "\n")
    done = {r["key"]: r for r in results["candidates"]}
    commits = sorted({r["commit"] for r in done.values()})
    lines = [
        "# How the `improved` recipe was chosen: the cross-validation record",
        "",
        "Written by `make selection` (`benchmarks/selection.py`); do not edit by hand.",
        "",
        *(
            []
            if results["complete"]
            else [
                "**Incomplete**: the command has not run every candidate yet; the rows below were measured.",
                "",
            ]
        ),
        f"Commit `{results['commit']}`, {results['date']}, {results['machine']}"
        + (
            f" (candidates measured at {', '.join(f'`{c}`' for c in commits)})"
            if commits != [results["commit"]]
            else ""
        )
        + f". PyTorch on the CPU, one thread per run, {results['folds']}-fold stratified cross-validation of",
        "the 557 training photos (`cnnlab cv`), each fold scored by the accuracy of the model it ends with",
        "(averaged weights where the candidate has them, with its test-time flip); the test photos are not",
        'read. Every candidate is `RECIPES["improved"]` with the fields shown changed.',
        "",
        f"| candidate | changes from `improved` | {results['folds']}-fold validation accuracy, mean ± sd "
        "| each fold | minutes |",
        "|---|---|---|---|---|",
    ]
    ranked = [c for c in CANDIDATES if c.key in done and c.key != SECOND_SEED]
    complete = [done[c.key] for c in ranked if len(done[c.key]["folds"]) == results["folds"]]
    choice = choose(complete) if complete else None
    chosen = choice.chosen if choice else None
    for c in ranked:
        r = done[c.key]
        changes = ", ".join(f"{k}={v}" for k, v in c.changes.items()) or "none"
        name = f"**{c.key}: {c.description}**" if c.key == chosen else f"{c.key}: {c.description}"
        each = " / ".join(_pct(a) for a in r["folds"])
        lines.append(
            f"| {name} | {changes} | {_pct(r['mean'])} ± {_pct(r['sd'])}% | {each} "
            f"| {r['seconds'] / 60:.0f} |"
        )
    if choice is not None:
        best = done[choice.best]
        lines += [
            "",
            f"The best mean is {best['key']}'s, {_pct(best['mean'])}%; one standard error below it is "
            f"{_pct(choice.threshold)}% ({_pct(best['mean'])} - {_pct(best['sd'])}"
            f"/sqrt({len(best['folds'])})). "
            f"Within it: {', '.join(choice.tied)}. Among those the rule takes the one whose folds agree best "
            f"(the smallest sd): **{chosen}**"
            + (
                " — the recipe `improved` is."
                if chosen == RECIPE_KEY
                else f". The recipe `improved` is {RECIPE_KEY}: this run of the rule does not pick it."
            ),
        ]
    if SECOND_SEED in done and RECIPE_KEY in done:
        a, b = done[RECIPE_KEY], done[SECOND_SEED]
        ten = a["folds"] + b["folds"]
        lines += [
            "",
            f"The recipe with a second seed ({b['seed']}: folds, weights and augmentation): "
            f"{_pct(b['mean'])} ± {_pct(b['sd'])}% "
            f"({' / '.join(_pct(x) for x in b['folds'])}); over the {len(ten)} folds of both seeds "
            f"{_pct(statistics.fmean(ten))}%.",
        ]
    if results.get("tta"):
        t = results["tta"]
        lines += [
            "",
            f"Test-time augmentation on the recipe's {t['folds']} folds' final models ({t['images']} "
            f"validation predictions), without retraining: none {_pct(t['none'])}%, the mirror (kept) "
            f"{_pct(t['mirror'])}%.",
        ]
    (DOCS / "selection.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="candidates at once (one thread each)")
    parser.add_argument("--only", default="", help="comma-separated candidate keys (default: all)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--epochs", type=int, default=None, help="override every candidate's epochs (a check)"
    )
    parser.add_argument("--render", action="store_true", help="only rewrite selection.md from selection.json")
    args = parser.parse_args()
    if args.render:
        write(json.loads((DOCS / "selection.json").read_text()))
        return 0
    data = record.required_photos()
    if data is None:
        return 1
    keys = [k for k in args.only.split(",") if k] or [c.key for c in CANDIDATES]
    unknown = sorted(set(keys) - {c.key for c in CANDIDATES})
    if unknown:
        print(f"unknown candidates {unknown}; choose from {[c.key for c in CANDIDATES]}", file=sys.stderr)
        return 2
    check = args.epochs is not None  # a check of the script: its runs go to a temporary folder
    root = Path(tempfile.mkdtemp(prefix="cnnlab-selection-")) if check else RUNS
    plan = [c for c in CANDIDATES if c.key in keys]
    # longest first, so that the workers end together
    plan.sort(key=lambda c: -candidate_settings(c, data, root, args.epochs).recipe.epochs)
    previous = (
        {}
        if check or not (DOCS / "selection.json").is_file()
        else json.loads((DOCS / "selection.json").read_text())
    )
    results = {
        "commit": commit(),
        "date": dt.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPUs",
        "folds": args.folds,
        "complete": False,
        "candidates": [r for r in previous.get("candidates", []) if r["key"] not in keys],
        "tta": previous.get("tta"),
    }
    failed = []
    pool = ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn"))
    try:
        futures = {
            pool.submit(cross_validate_candidate, c, data, root, args.folds, args.epochs): c for c in plan
        }
        for fut in as_completed(futures):
            try:
                r = fut.result()
            except Exception as exc:  # one candidate's failure is reported; the others go on
                failed.append(futures[fut].key)
                print(f"{futures[fut].key} failed: {exc}", file=sys.stderr, flush=True)
                continue
            line = f"{r['key']}: {_pct(r['mean'])} ± {_pct(r['sd'])}% ({r['seconds'] / 60:.0f} min)"
            print(line, flush=True)
            results["candidates"].append(r)
            if not check:
                write(results)
    except KeyboardInterrupt:
        pool.shutdown(wait=True, cancel_futures=True)  # each worker keeps its fold's last checkpoint
        print("stopped: run the same command again to continue", file=sys.stderr)
        return 130
    pool.shutdown()
    have = {r["key"] for r in results["candidates"]}
    results["complete"] = not failed and have >= {c.key for c in CANDIDATES}
    if not check:
        write(results)
    if RECIPE_KEY in keys or SECOND_SEED in keys:  # measured now: compare test-time augmentation again
        try:
            results["tta"] = tta_comparison([k for k in (RECIPE_KEY, SECOND_SEED) if k in have], root)
        except Exception as exc:  # the cross-validation is written; this is one paragraph of it
            results["tta"] = None
            print(f"test-time augmentation not compared: {exc}", file=sys.stderr)
    if check:
        print(json.dumps(results, indent=2))
        return 0
    write(results)
    print(f"wrote {DOCS / 'selection.md'}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
