"""``cnnlab evaluate``: accuracy, per-class precision/recall/F1 and the confusion matrix of a run."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from cnnlab.cli.app import app
from cnnlab.cli.choices import Checkpoint


class Split(StrEnum):
    test = "test"
    train = "train"
    all = "all"


def format_report(report: dict[str, Any], title: str = "") -> str:
    """A report of :func:`cnnlab.runs.evaluate.evaluate_predictions` as plain text: accuracy and loss,
    the per-class table and the confusion matrix (rows: true class, columns: predicted class)."""
    classes = list(report["classes"])
    lines = [title] if title else []
    loss = report.get("loss")
    acc = report["accuracy"]
    lines.append(
        f"accuracy {100 * acc:.2f}% ({acc:.4f}) on {report['num_samples']} images"
        + ("" if loss is None else f", loss {loss:.4f}")
    )
    lines.append("")
    width = max(5, *(len(c) for c in classes))
    lines.append(f"{'class':<{width}}  precision  recall      f1  support")
    for c in classes:
        m = report["per_class"][c]
        lines.append(
            f"{c:<{width}}  {m['precision']:9.4f}  {m['recall']:6.4f}  {m['f1']:6.4f}  {m['support']:7d}"
        )
    lines.append("")
    lines.append("confusion matrix (rows: true class, columns: predicted class)")
    cm = report["confusion"]
    cell = max(len(str(v)) for row in cm for v in row)
    cell = max(cell, *(len(c) for c in classes))
    lines.append(" " * width + "  " + "  ".join(f"{c:>{cell}}" for c in classes))
    for c, row in zip(classes, cm, strict=True):
        lines.append(f"{c:<{width}}  " + "  ".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)


@app.command(epilog="Examples:  cnnlab evaluate runs/cnn  |  cnnlab evaluate runs/cnn --data photos/ --json")
def evaluate(
    run_dir: Annotated[
        Path,
        typer.Argument(metavar="RUN_DIR", help="A run directory made by `cnnlab train`.", show_default=False),
    ],
    data: Annotated[
        Path | None,
        typer.Option(help="Evaluate on this image folder instead of the run's own data.", show_default=False),
    ] = None,
    split: Annotated[Split, typer.Option(help="Which split of the data.")] = Split.test,
    checkpoint: Annotated[Checkpoint, typer.Option(help="Which weights of the run.")] = Checkpoint.best,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix of a trained run.

    By default on the run's own test split (then also saved as test_metrics.json in the run).
    """
    from cnnlab.errors import DataError
    from cnnlab.runs import RunDir
    from cnnlab.runs.evaluate import evaluate_run

    run = RunDir.open(run_dir)
    if data is not None and not data.is_dir():
        raise DataError(f"data directory {data} does not exist")
    result = evaluate_run(run, data=data, split=split.value, checkpoint=checkpoint.value)
    report = result.report
    if as_json:
        print(json.dumps(report, indent=2))
        return
    where = f"{data}" if data is not None else (run.config.get("data") or "the built-in dataset")
    print(format_report(report, f"{run.path}: {checkpoint.value} checkpoint, {split.value} split of {where}"))
