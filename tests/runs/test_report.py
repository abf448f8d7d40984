"""Plots and report.html of a run directory built by hand (no training)."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from cnnlab.runs import RunDir, plots, write_json
from cnnlab.runs.evaluate import Evaluation, evaluate_predictions
from cnnlab.runs.report import render_report, write_plots, write_report

PNG = b"\x89PNG\r\n\x1a\n"
CLASSES = ["cat", "dog"]


def _red_pixels(png: bytes) -> int:
    """Pixels close to the colour mistakes are marked with (#d62728)."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int((np.abs(rgb - [0xD6, 0x27, 0x28]).sum(axis=-1) < 40).sum())


def _evaluation(n: int = 20, wrong: int = 3, seed: int = 0) -> Evaluation:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    predicted = labels.copy()
    predicted[:wrong] = 1 - predicted[:wrong]
    proba = np.where(np.arange(2) == predicted[:, None], 0.8, 0.2)
    # grey images, so no pixel of the pictures themselves looks red
    images = np.repeat(rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8), 3, axis=-1)
    report = evaluate_predictions(labels, proba, CLASSES)
    return Evaluation(CLASSES, images, labels, proba, [f"{i}.png" for i in range(n)], report)


def _run(tmp_path, epochs: int = 4, val: bool = True, classes=CLASSES) -> RunDir:
    cfg = {
        "backend": "numpy",
        "model": "simple",
        "image_size": 8,
        "classes": list(classes),
        "data": None,
        "recipe": {"name": "lab", "epochs": epochs, "dropout": 0.0},
        "versions": {"cnnlab": "0.1.0", "numpy": np.__version__},
        "command": ["cnnlab", "train", "--out", "r x"],
    }
    run = RunDir.create(tmp_path / "run", cfg)
    for e in range(1, epochs + 1):
        run.append_metrics(
            {
                "epoch": e,
                "train_loss": 1.0 / e,
                "train_acc": 1 - 0.4 / e,
                "val_loss": 1.1 / e if val else None,
                "val_acc": 1 - 0.5 / e if val else None,
                "lr": 1e-3,
                "seconds": 1.5,
                "images_per_s": 400.0,
            }
        )
    return run


def test_choose_examples_takes_up_to_half_mistakes_in_order():
    labels = np.zeros(100, dtype=int)
    predicted = labels.copy()
    predicted[[3, 10, 50, 60, 70, 80, 90, 95, 96, 97, 98, 99, 1, 2]] = 1  # 14 mistakes
    chosen = plots.choose_examples(labels, predicted, n=24, seed=1)
    assert chosen.tolist() == sorted(set(chosen.tolist())) and len(chosen) == 24
    assert (predicted[chosen] != labels[chosen]).sum() == 12
    assert np.array_equal(chosen, plots.choose_examples(labels, predicted, n=24, seed=1))
    # few mistakes: all of them are shown
    predicted2 = labels.copy()
    predicted2[[5, 7]] = 1
    chosen2 = plots.choose_examples(labels, predicted2, n=24)
    assert {5, 7} <= set(chosen2.tolist()) and len(chosen2) == 24
    # few correct ones: the grid fills up with mistakes
    chosen3 = plots.choose_examples(labels, 1 - labels, n=10)
    assert len(chosen3) == 10
    # fewer images than the grid
    assert plots.choose_examples(labels[:5], predicted[:5], n=24).tolist() == [0, 1, 2, 3, 4]


def test_predictions_grid_marks_mistakes_in_red(tmp_path):
    with_mistakes = plots.plot_predictions(*_grid_args(wrong=3), CLASSES, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes() == with_mistakes
    assert with_mistakes.startswith(PNG)
    without = plots.plot_predictions(*_grid_args(wrong=0), CLASSES)
    assert _red_pixels(with_mistakes) > 100
    assert _red_pixels(without) == 0


def _grid_args(wrong: int):
    ev = _evaluation(wrong=wrong)
    return ev.images, ev.labels, ev.probabilities


def test_predictions_grid_checks_shapes():
    ev = _evaluation()
    with pytest.raises(ValueError, match=r"\(20, 8, 8, 3\), \(19,\)"):
        plots.plot_predictions(ev.images, ev.labels[:19], ev.probabilities, CLASSES)


def test_confusion_plot_checks_the_class_count():
    with pytest.raises(ValueError, match=r"shape \(2, 2\) but there are 3 classes"):
        plots.plot_confusion([[1, 0], [0, 1]], ["a", "b", "c"])


@pytest.mark.parametrize("val", [True, False])
def test_curves_with_and_without_validation(tmp_path, val):
    run = _run(tmp_path, val=val)
    data = plots.plot_curves(run.metrics(), run / "curves.png")
    assert data.startswith(PNG)
    w, h = Image.open(io.BytesIO(data)).size
    assert (w, h) == (1000, 400)
    # an empty or non-finite history still draws
    rows = [{"epoch": 1.0, "train_loss": float("nan"), "train_acc": None}]
    assert plots.plot_curves(rows).startswith(PNG)
    assert plots.plot_curves([]).startswith(PNG)


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs: list[str] = []
        self.stack: list[str] = []
        self.unbalanced: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])
        elif tag not in ("meta", "br"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.unbalanced.append(tag)


def test_report_shows_everything_self_contained(tmp_path):
    run = _run(tmp_path)
    ev = _evaluation(n=20, wrong=3)
    write_json(run / "test_metrics.json", {**ev.report, "split": "test", "checkpoint": "best", "data": None})
    (run / "summary.txt").write_text("Layer  Output  Params\nconv   (16,)   448\n")
    written = write_plots(run, ev)
    assert [p.name for p in written] == ["curves.png", "confusion.png", "predictions.png"]
    for p in written:
        assert p.read_bytes().startswith(PNG)
    page = write_report(run)
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    # 17 of 20 right
    assert "85.00%" in html
    assert "the built-in dataset" in html
    assert "conv   (16,)   448" in html
    assert "cnnlab train --out &#x27;r x&#x27;" in html  # the command line, shell-quoted and escaped
    parser = _Collect()
    parser.feed(html)
    assert parser.unbalanced == [] and parser.stack == []
    assert len(parser.imgs) == 3
    for src in parser.imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    # the page links the other files of the run, relative to itself
    assert 'href="metrics.csv"' in html and 'href="config.json"' in html
    assert not [p for p in run.path.iterdir() if p.name.endswith(".tmp")]


def test_report_of_a_bare_run_notes_what_is_missing(tmp_path):
    run = _run(tmp_path, epochs=0)
    html = render_report(run)
    assert "No test metrics" in html
    assert "curves.png was not made" in html
    assert "metrics.csv has no epochs yet" in html


def test_report_escapes_what_it_shows(tmp_path):
    run = _run(tmp_path, classes=["<b>cat</b>", "dog & co"])
    ev = _evaluation()
    report = evaluate_predictions(ev.labels, ev.probabilities, ["<b>cat</b>", "dog & co"])
    write_json(run / "test_metrics.json", report)
    html = render_report(run)
    assert "<b>cat</b>" not in html
    assert "&lt;b&gt;cat&lt;/b&gt;" in html and "dog &amp; co" in html
    assert re.search(r"<td class=\"l\">dog &amp; co</td>", html)


def test_curves_note_says_what_the_training_numbers_include():
    from cnnlab.recipes import RECIPES
    from cnnlab.runs.report import curves_note

    assert curves_note(RECIPES["lab"].to_dict()) is None
    note = curves_note(RECIPES["improved"].to_dict())
    assert "augmented images" in note and "dropout 0.3" in note and "label smoothing 0.1" in note
    assert "mixup (alpha 0.2)" in note and "moving average (decay 0.99)" in note
    # without a validation split the note says nothing about validation
    alone = curves_note(RECIPES["improved"].to_dict(), validation=False)
    assert "mixup" in alone and "validation" not in alone


def _run_with(tmp_path, rows, accuracy):
    run = RunDir.create(tmp_path / "run", {"backend": "numpy", "model": "simple", "recipe": {"name": "lab"}})
    run.write_metrics(rows)
    write_json(run / "test_metrics.json", {"accuracy": accuracy, "num_samples": 140})
    return run


def test_a_run_without_validation_says_best_is_the_last_epoch_and_flags_overfitting(tmp_path):
    rows = [{"epoch": e, "train_loss": 0.1, "train_acc": acc} for e, acc in ((1, 0.7), (2, 1.0))]
    html = render_report(_run_with(tmp_path, rows, 0.6571))
    assert "had no validation split" in html and "--val-fraction" in html and "cnnlab cv" in html
    assert "Overfitting: the final train accuracy (100.0%) is 34.3 points above the test accuracy" in html


def test_a_validated_run_with_a_small_gap_has_no_notes(tmp_path):
    rows = [{"epoch": 1, "train_loss": 0.5, "train_acc": 0.80, "val_loss": 0.6, "val_acc": 0.74}]
    html = render_report(_run_with(tmp_path, rows, 0.75))
    assert "no validation split" not in html and "Overfitting" not in html
