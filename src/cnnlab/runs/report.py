"""``report.html``: one self-contained page showing a run, and ``finish_run`` that makes everything in it.

The page holds the run's key numbers, learning curves, test metrics (per-class table and confusion
matrix), a grid of test predictions, the per-epoch metrics table, every setting, versions, the command
line and the layer table. The pictures are embedded as base64 ``data:`` URIs, so the file can be mailed or
opened from anywhere; the other files of the run are linked relative to the page.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import os
import shlex
from pathlib import Path
from typing import Any

from cnnlab.rundir import CONFIG, METRICS, TEST_METRICS, RunDir, atomic_write_text

REPORT = "report.html"
SUMMARY = "summary.txt"
CURVES = "curves.png"
CONFUSION = "confusion.png"
PREDICTIONS = "predictions.png"

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.sub { color: #555; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: .8em; margin: 1.2em 0; }
.card { border: 1px solid #ddd; border-radius: 8px; padding: .6em 1em; min-width: 9em; }
.card .v { font-size: 1.5em; font-weight: 600; } .card .k { color: #555; font-size: .85em; }
table { border-collapse: collapse; margin: .5em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th { background: #f5f5f5; } td.l, th.l { text-align: left; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .85em; }
.missing { color: #a00; font-style: italic; }
.note { background: #fff6d6; border-left: 4px solid #d9a400; padding: 6px 10px; }
details { margin: .5em 0; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _num(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "-"
    return f"{x:.{digits}g}" if abs(x) >= 1e4 or (x != 0 and abs(x) < 1e-3) else f"{x:.{digits}f}"


def _image(run: RunDir, name: str, alt: str) -> str:
    path = run / name
    if not path.is_file():
        return f'<p class="missing">{_esc(name)} was not made for this run.</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are left-aligned. Cells must already be escaped."""
    head = "".join(f'<th class="l">{h}</th>' if i < left else f"<th>{h}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="l">{c}</td>' if i < left else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _flatten(cfg: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in cfg.items():
        if isinstance(value, dict):
            items += _flatten(value, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", value))
    return items


def _cards(cfg: dict[str, Any], rows: list[dict], test: dict | None) -> str:
    cards: list[tuple[str, str]] = []
    if test:
        cards.append(("test accuracy", _pct(test.get("accuracy"))))
        if test.get("loss") is not None:
            cards.append(("test loss", _num(test["loss"])))
        cards.append(("test images", _esc(test.get("num_samples", "-"))))
    val = [r for r in rows if r.get("val_acc") is not None]
    if val:
        best = max(val, key=lambda r: r["val_acc"])
        cards.append((f"best validation accuracy (epoch {int(best['epoch'])})", _pct(best["val_acc"])))
    if rows:
        last = rows[-1]
        cards.append(("epochs", _esc(int(last["epoch"]))))
        if last.get("train_acc") is not None:
            cards.append(("final train accuracy", _pct(last["train_acc"])))
        seconds = sum(r.get("seconds") or 0.0 for r in rows)
        cards.append(("training time", f"{seconds:.1f} s"))
        speeds = [r["images_per_s"] for r in rows if r.get("images_per_s")]
        if speeds:
            cards.append(("images / s (mean)", f"{sum(speeds) / len(speeds):,.0f}"))
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="v">{v}</div><div class="k">{_esc(k)}</div></div>'
            for k, v in cards
        )
        + "</div>"
    )


#: A final train accuracy this many points above the test accuracy is flagged as overfitting.
OVERFIT_GAP = 0.15


def run_notes(cfg: dict[str, Any], rows: list[dict], test: dict | None) -> list[str]:
    """Plain-text warnings about how to read a run: no validation split, a large train/test gap.

    - Without a validation split "best" is simply the last epoch and only training curves exist; the
      note says how to get held-out curves (``--val-fraction`` or ``cnnlab cv``).
    - A final train accuracy :data:`OVERFIT_GAP` or more above the test accuracy is named overfitting.
    """
    notes = []
    if rows and all(r.get("val_acc") is None for r in rows):
        notes.append(
            'This run had no validation split, so its "best" checkpoint is the last epoch and the curves '
            "show training only. For held-out curves and a best epoch chosen on held-out images, train with "
            "--val-fraction 0.15, or compare recipes with cnnlab cv."
        )
    train_acc = rows[-1].get("train_acc") if rows else None
    test_acc = (test or {}).get("accuracy")
    if train_acc is not None and test_acc is not None and train_acc - test_acc >= OVERFIT_GAP:
        notes.append(
            f"Overfitting: the final train accuracy ({100 * train_acc:.1f}%) is "
            f"{100 * (train_acc - test_acc):.1f} points above the test accuracy ({100 * test_acc:.1f}%); the "
            "model memorised its training images. Augmentation, dropout, weight decay or fewer epochs help "
            "(the improved recipe)."
        )
    return notes


def _notes(cfg: dict[str, Any], rows: list[dict], test: dict | None) -> str:
    return "".join(f'<p class="note">{_esc(n)}</p>' for n in run_notes(cfg, rows, test))


def _test_section(run: RunDir, test: dict | None) -> str:
    if not test:
        return '<p class="missing">No test metrics: run <code>cnnlab evaluate</code> on this run.</p>'
    classes = list(test.get("classes", []))
    per = test.get("per_class", {})
    rows = [
        [
            _esc(c),
            _num(per[c]["precision"]),
            _num(per[c]["recall"]),
            _num(per[c]["f1"]),
            _esc(per[c]["support"]),
        ]
        for c in classes
        if c in per
    ]
    where = f"<code>{_esc(test['data'])}</code>" if test.get("data") else "the built-in dataset"
    parts = [
        f"<p>Accuracy <b>{_pct(test.get('accuracy'))}</b> ({_esc(test.get('accuracy'))}) on "
        f"{_esc(test.get('num_samples'))} images of the {_esc(test.get('split', 'test'))} split of "
        f"{where}, {_esc(test.get('checkpoint', 'best'))} checkpoint.</p>",
        _table(["class", "precision", "recall", "F1", "support"], rows),
    ]
    cm = test.get("confusion")
    if cm:
        cm_rows = [[_esc(classes[i]), *(_esc(v) for v in row)] for i, row in enumerate(cm)]
        parts.append("<p>Confusion matrix (rows: true class, columns: predicted class)</p>")
        parts.append(_table(["true \\ predicted", *(_esc(c) for c in classes)], cm_rows))
    parts.append(_image(run, CONFUSION, "confusion matrix"))
    return "\n".join(parts)


def _epochs_table(rows: list[dict]) -> str:
    if not rows:
        return '<p class="missing">metrics.csv has no epochs yet.</p>'
    header = ["epoch", "train loss", "train acc", "val loss", "val acc", "lr", "seconds", "images/s"]
    body = [
        [
            _esc(int(r["epoch"])) if r.get("epoch") is not None else "-",
            _num(r.get("train_loss")),
            _pct(r.get("train_acc")),
            _num(r.get("val_loss")),
            _pct(r.get("val_acc")),
            "-" if r.get("lr") is None else f"{r['lr']:.2e}",
            _num(r.get("seconds"), 3),
            "-" if r.get("images_per_s") is None else f"{r['images_per_s']:,.0f}",
        ]
        for r in rows
    ]
    return _table(header, body)


def render_report(run: RunDir | str | os.PathLike) -> str:
    """The HTML of ``run``'s report, from the files in its directory (missing ones are noted)."""
    run = run if isinstance(run, RunDir) else RunDir.open(run)
    cfg = run.config
    rows = run.metrics()
    test = run.test_metrics
    recipe = cfg.get("recipe") or {}
    name = run.path.resolve().name
    classes = cfg.get("classes")
    sub = " · ".join(
        _esc(s)
        for s in (
            f"model {cfg.get('model', '?')}",
            f"backend {cfg.get('backend', '?')}",
            f"recipe {recipe.get('name', '?')}",
            f"image size {cfg.get('image_size') or '?'}",
            f"classes {', '.join(classes) if classes else '?'}",
        )
    )
    settings = [(k, v) for k, v in _flatten(cfg) if not k.startswith("versions.") and k != "command"]
    versions = _flatten(cfg.get("versions") or {})
    command = cfg.get("command")
    command_line = shlex.join(str(c) for c in command) if isinstance(command, list) else str(command or "")
    summary = (run / SUMMARY).read_text() if (run / SUMMARY).is_file() else None
    files = [
        f
        for f in (
            CONFIG,
            METRICS,
            TEST_METRICS,
            SUMMARY,
            "best.npz",
            "best.pt",
            "last.npz",
            "last.pt",
            CURVES,
            CONFUSION,
            PREDICTIONS,
        )
        if (run / f).is_file()
    ]
    made = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        f"<h1>cnnlab run <code>{_esc(name)}</code></h1>",
        f'<p class="sub">{sub}</p>',
        _cards(cfg, rows, test),
        _notes(cfg, rows, test),
        "<h2>Learning curves</h2>",
        _image(run, CURVES, "loss and accuracy per epoch, train and validation"),
        "<h2>Test set</h2>",
        _test_section(run, test),
        "<h2>Predictions</h2>",
        _image(run, PREDICTIONS, "test images with true and predicted labels"),
        "<h2>Epochs</h2>",
        _epochs_table(rows),
        "<h2>Settings</h2>",
        _table(["setting", "value"], [[_esc(k), _esc(v)] for k, v in settings], left=2),
        "<h2>Repeat this run</h2>",
        f"<pre>{_esc(command_line) or '(command line not recorded)'}</pre>",
        _table(["package", "version"], [[_esc(k), _esc(v)] for k, v in versions]) if versions else "",
        "<h2>Model</h2>",
        f"<pre>{_esc(summary)}</pre>" if summary else f'<p class="missing">{SUMMARY} was not made.</p>',
        "<h2>Files</h2>",
        "<ul>" + "".join(f'<li><a href="{_esc(f)}">{_esc(f)}</a></li>' for f in files) + "</ul>",
        f'<p class="sub">Made by cnnlab on {made}.</p>',
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>cnnlab run {_esc(name)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_report(run: RunDir | str | os.PathLike) -> Path:
    """Write ``report.html`` into ``run`` (atomically) and return its path."""
    run = run if isinstance(run, RunDir) else RunDir.open(run)
    path = run / REPORT
    atomic_write_text(path, render_report(run))
    return path


def write_summary(run: RunDir) -> Path:
    """Write the model's layer table to ``summary.txt``."""
    from cnnlab.runs.summary import layer_table

    cfg = run.config
    recipe = cfg.get("recipe") or {}
    text = layer_table(
        cfg.get("model", "cnn"),
        backend=cfg.get("backend", "numpy"),
        image_size=cfg.get("image_size"),
        num_classes=len(cfg.get("classes") or []) or 2,
        dropout=float(recipe.get("dropout", 0.0)),
    )
    path = run / SUMMARY
    atomic_write_text(path, text.rstrip("\n") + "\n")
    return path


def curves_note(recipe: dict[str, Any], validation: bool = True) -> str | None:
    """Why the training curves can sit below the validation ones: what the training numbers include
    (and, when the run has a validation split, how the validation numbers were measured)."""
    parts = []
    if recipe.get("augment"):
        parts.append("augmented images")
    if recipe.get("dropout"):
        parts.append(f"dropout {recipe['dropout']:g}")
    if recipe.get("mixup"):
        parts.append(f"mixup (alpha {recipe['mixup']:g})")
    if recipe.get("label_smoothing"):
        parts.append(f"label smoothing {recipe['label_smoothing']:g} in the loss")
    if not parts:
        return None
    note = f"train: running means over each epoch, with {', '.join(parts)}"
    if validation:
        note += "; validation: un-augmented images, after the epoch"
        if recipe.get("ema"):
            note += f", with the weights' moving average (decay {recipe['ema']:g})"
    return note


def write_plots(run: RunDir, evaluation: Any | None = None) -> list[Path]:
    """Write ``curves.png`` (from metrics.csv) and, given an evaluation, ``confusion.png`` and
    ``predictions.png``; return the paths written."""
    from cnnlab.runs import plots

    cfg = run.config
    recipe = (cfg.get("recipe") or {}).get("name", "?")
    title = f"{run.path.resolve().name}: {cfg.get('model', '?')} / {cfg.get('backend', '?')} / {recipe}"
    written = [run / CURVES]
    rows = run.metrics()
    validation = any(r.get("val_acc") is not None for r in rows)
    plots.plot_curves(rows, run / CURVES, title=title, note=curves_note(cfg.get("recipe") or {}, validation))
    if evaluation is not None:
        plots.plot_confusion(evaluation.report["confusion"], evaluation.classes, run / CONFUSION)
        plots.plot_predictions(
            evaluation.images,
            evaluation.labels,
            evaluation.probabilities,
            evaluation.classes,
            run / PREDICTIONS,
        )
        written += [run / CONFUSION, run / PREDICTIONS]
    return written


def finish_run(
    run: RunDir | str | os.PathLike,
    dataset: Any | None = None,
    *,
    predictor: Any | None = None,
    checkpoint: str = "best",
) -> Path:
    """Everything after training: evaluate on the test split (``test_metrics.json``), ``summary.txt``,
    ``curves.png``, ``confusion.png``, ``predictions.png`` and ``report.html``. Returns the report's path.

    ``dataset``: the dataset the run trained on, when the caller still holds it (else it is loaded again
    from the run's config); ``predictor``: one already loaded (else ``load_predictor(run, checkpoint)``).
    """
    from cnnlab.runs.evaluate import evaluate_run

    run = run if isinstance(run, RunDir) else RunDir.open(run)
    evaluation = evaluate_run(run, dataset, predictor=predictor, checkpoint=checkpoint, write=True)
    write_summary(run)
    write_plots(run, evaluation)
    return write_report(run)
