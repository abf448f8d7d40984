"""The Model tab (a Shiny module): a trained run on its own test images, or on an upload.

Pick one of the run's test images (by true class, mistakes first) or upload one; the page shows the
logits and their softmax beside the predictor's probabilities, a saliency map or Grad-CAM from the
run's own backend (:mod:`cnnlab.explore.explain`), every channel of each conv layer on one colour scale
per layer with its colour bar (click a map to see the filter that made it), and the training curves drawn
by :func:`cnnlab.runs.plots.plot_curves`.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import numpy as np
from shiny import module, reactive, render, ui

from cnnlab.explore import compute as C
from cnnlab.explore import explain as X
from cnnlab.explore import html as H
from cnnlab.explore.bounds import set_choices
from cnnlab.explore.conv_tab import ACCEPT, read_upload
from cnnlab.explore.inputs import CheckedInputs, Waiting, attempt, message_html, radio, select

CONTROLS = {"m_source": "radio", "m_class": "select", "m_mode": "radio"}


def set_classes(classes: list[str]) -> None:
    """The True class select's choices: every class, or one of the run's (by index)."""
    set_choices("m_class", {"all": "every class", **{str(i): c for i, c in enumerate(classes)}}, "all")


def no_run_panel() -> ui.Tag:
    return ui.card(
        ui.card_header("No trained model loaded"),
        ui.markdown(
            "Start the explorer with a run directory made by `cnnlab train` to see the model on its own test "
            "images: logits and probabilities, saliency or Grad-CAM, every feature map and the filter behind "
            "it, and the training curves:\n\n```\ncnnlab explore --run runs/NAME\n```"
        ),
    )


@module.ui
def panel() -> ui.Tag:
    return ui.layout_sidebar(
        ui.sidebar(
            radio("m_source"),
            ui.panel_conditional(
                "input.m_source === 'test'",
                select("m_class"),
                ui.input_select("m_pick", "Test image (mistakes first)", {}, size=10),
            ),
            ui.panel_conditional(
                "input.m_source === 'upload'",
                ui.input_file("m_upload", "Picture (at most 10 MB)", accept=ACCEPT),
            ),
            radio("m_mode"),
            width=300,
        ),
        ui.div(
            ui.output_ui("msg"),
            ui.layout_columns(
                ui.card(ui.card_header("Prediction"), ui.output_ui("prediction")),
                ui.card(ui.card_header("What the score depends on"), ui.output_ui("explain")),
                col_widths={"sm": 12, "lg": [6, 6]},
                fill=False,
            ),
            ui.card(
                ui.card_header("Feature maps after each conv layer (+ ReLU): click one to see its filter"),
                ui.output_ui("maps"),
                ui.output_ui("filter"),
                fill=False,
            ),
            ui.card(ui.card_header("Training curves"), ui.output_ui("curves"), fill=False),
        ),
    )


def _png(data: bytes, alt: str, width: str = "100%") -> str:
    url = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="{url}" style="width:{width};max-width:100%">'


@module.server
def server(input: Any, output: Any, session: Any, run: Any, predictor: Any, cache: dict) -> None:
    """``cache``: shared by every session of the app, so the run's test split is read and predicted once."""
    v = CheckedInputs(input, CONTROLS)
    picked_fm: reactive.Value[tuple[int, int]] = reactive.Value((0, 0))

    def split() -> X.TestSplit:
        if "split" not in cache:  # once for the app, on first use
            cache["split"] = X.test_split(run, predictor)
        return cache["split"]

    @reactive.calc
    def choices() -> dict[str, str]:
        s = split()
        want = v("m_class")
        out = {}
        for i in s.order:
            if want != "all" and int(s.labels[i]) != int(want):
                continue
            y, p = int(s.labels[i]), int(s.predictions[i])
            mark = "✓" if y == p else "✗"
            out[str(i)] = f"#{i} {s.classes[y]} → {s.classes[p]} {mark} {100 * s.proba[i, p]:.0f}%"
        return out

    @reactive.effect
    def _fill_picker() -> None:
        ch, _, _ = attempt(choices)
        if ch is None:
            return
        first = next(iter(ch), None)
        ui.update_select("m_pick", choices=ch, selected=first)

    @reactive.calc
    def picked() -> int:
        s = split()
        raw = input.m_pick()
        if raw in (None, ""):
            raise Waiting("Choose one of the run's test images.")
        try:
            i = int(raw)
        except (TypeError, ValueError):
            i = -1
        if not 0 <= i < len(s.labels):
            raise ValueError(
                f"test image {str(raw)[:40]!r} is not one of the run's {len(s.labels)} test images"
            )
        return i

    @reactive.calc
    def image() -> tuple[np.ndarray, str]:
        size = int(predictor.image_size)
        if v("m_source") == "upload":
            files = input.m_upload()
            return read_upload(files, size), (files[0].get("name", "upload") if files else "upload")
        s = split()
        i = picked()
        return s.images[i], f"test image #{i} ({Path(s.paths[i]).name}), true class {s.classes[s.labels[i]]}"

    @reactive.calc
    def scores() -> tuple[np.ndarray, np.ndarray]:
        img, _ = image()
        return X.logits(predictor, img), predictor.predict_proba(img[None])[0]

    @reactive.effect
    @reactive.event(input.fm_click)
    def _fm_clicked() -> None:
        value = input.fm_click()
        maps, _, _ = attempt(fmaps)
        try:
            layer, ch = int(value["layer"]), int(value["ch"])
            ok = maps is not None and 0 <= layer < len(maps) and 0 <= ch < maps[layer][1].shape[2]
        except (KeyError, TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            v.note("fm_click", f"feature map {str(value)[:60]} does not exist; it is ignored")
            return
        v.note("fm_click", None)
        picked_fm.set((layer, ch))

    @reactive.calc
    def fmaps() -> list[tuple[str, np.ndarray]]:
        img, _ = image()
        return predictor.feature_maps(img)

    @render.ui
    def msg():
        _, err, waiting = attempt(scores)
        return message_html(session.ns("msg"), err, waiting, v.notes())

    @render.ui
    def prediction():
        got, _, _ = attempt(scores)
        if got is None:
            return None
        z, p = got
        img, label = image()
        pic = f'<img alt="picture" src="{H.png_data_url(img)}" class="mpic">'
        table = proba_table(list(predictor.classes), z, p, bool(getattr(predictor, "tta_flip", False)))
        return ui.HTML(
            f'<div class="pred-row"><figure>{pic}<figcaption id="{session.ns("pic_label")}">'
            f'{html.escape(label)}</figcaption></figure><div class="pred-table">{table}</div></div>'
        )

    @render.ui
    def explain():
        got, _, _ = attempt(scores)
        if got is None:
            return None
        z, _ = got
        img, _ = image()
        k = int(np.argmax(z))
        mode = v("m_mode")
        try:
            m = X.saliency(predictor, img, k) if mode == "saliency" else X.gradcam(predictor, img, k)
        except (C.CnnlabError, ValueError) as exc:
            return ui.HTML(H.error(str(exc)))
        what = (
            "|d logit / d input|, largest over the colour channels"
            if mode == "saliency"
            else "Grad-CAM: relu(Σ_c α_c A_c) on the last conv layer, α_c = mean of d logit / d A_c"
        )
        hi = float(m.max()) if m.size else 0.0
        return ui.HTML(
            f'<p class="note">For the predicted class <b>{html.escape(predictor.classes[k])}</b> '
            f"({predictor.backend} backend): {what}.</p>"
            f'<div class="pred-row"><img alt="{mode}" id="{session.ns("explain_img")}" class="mpic" '
            f'src="{H.png_data_url(H.colorize(m, 0.0, hi, "sequential"))}">'
            f'<img alt="picture" class="mpic" src="{H.png_data_url(img)}"></div>'
            f"{H.colorbar(0.0, hi, 'sequential', label=mode)}"
        )

    @render.ui
    def maps():
        got, _, _ = attempt(fmaps)
        if got is None:
            return None
        if not got:
            return ui.div("This model has no conv layers.", class_="note")
        return ui.HTML(maps_html(got, picked_fm(), session.ns))

    @render.ui
    def filter():
        got, _, _ = attempt(fmaps)
        if not got:
            return None
        layer, ch = picked_fm()
        if layer >= len(got) or ch >= got[layer][1].shape[2]:
            layer, ch = 0, 0
        name, W = X.conv_filters(predictor)[layer]
        return ui.HTML(filter_html(name, W[:, :, :, ch], ch, session.ns))

    @render.ui
    def curves():
        from cnnlab.runs.plots import plot_curves

        rows = run.metrics()
        if not rows:
            return ui.div("This run has no metrics.csv rows yet.", class_="note")
        return ui.HTML(_png(plot_curves(rows), "training curves"))


def proba_table(classes: list[str], z: np.ndarray, p: np.ndarray, tta: bool) -> str:
    """Logits, their softmax, and the predictor's probabilities (a bar that fits its cell)."""
    sm = X.softmax(z)
    best = int(np.argmax(p))
    rows = []
    for k, name in enumerate(classes):
        b = ("<b>", "</b>") if k == best else ("", "")
        rows.append(
            f'<tr data-class="{html.escape(name)}"><td>{b[0]}{html.escape(name)}{b[1]}</td>'
            f'<td class="logit">{C.fmt(z[k], 3)}</td><td class="sm">{C.fmt(100 * sm[k], 1)}%</td>'
            f'<td class="p">{b[0]}{C.fmt(100 * p[k], 1)}%{b[1]}</td>'
            f'<td class="barcell"><div class="bar" style="width:{100 * p[k]:.1f}%"></div></td></tr>'
        )
    note = (
        "p averages the picture and its mirror (the run's test-time flip), so it can differ from softmax."
        if tta
        else "p is predict_proba, the same as the softmax of the logits."
    )
    return (
        '<table class="proba" id="model_proba_table"><tr><th class="c-name">class</th>'
        '<th class="c-num">logit z</th><th class="c-num">softmax</th><th class="c-num">p</th>'
        '<th class="c-bar"></th></tr>' + "".join(rows) + "</table>"
        f'<p class="note">softmax(z)_k = exp(z_k − max z) / Σ_j exp(z_j − max z). {note}</p>'
    )


def maps_html(maps: list[tuple[str, np.ndarray]], picked: tuple[int, int], ns: Any) -> str:
    """Every channel of each layer, one colour scale per layer (0 to the layer's largest value)."""
    out = []
    for li, (name, m) in enumerate(maps):
        hi = float(m.max()) if m.size else 0.0
        imgs = "".join(
            f'<img class="fm{" sel" if (li, c) == picked else ""}" data-input="{ns("fm_click")}" '
            f'data-layer="{li}" data-ch="{c}" title="{name} channel {c}" alt="{name} channel {c}" '
            f'src="{H.png_data_url(H.colorize(m[:, :, c], 0.0, hi, "sequential"))}" style="width:54px">'
            for c in range(m.shape[2])
        )
        out.append(
            f'<div class="layer" id="{ns(f"layer{li}")}"><div class="vol-h">{name}: {m.shape[0]} × '
            f"{m.shape[1]} × {m.shape[2]}, every channel on one scale: "
            f"{H.colorbar(0.0, hi, 'sequential')}</div>{imgs}</div>"
        )
    return '<div class="fmaps">' + "".join(out) + "</div>"


def filter_html(name: str, W: np.ndarray, ch: int, ns: Any) -> str:
    """Filter ``ch`` of layer ``name``: ``W (f, f, C_in)``, one grid per input channel."""
    m = float(np.max(np.abs(W))) if W.size else 0.0
    grids = "".join(
        f"<figure>{H.grid(W[:, :, k], grid_id=ns(f'filt{k}'), scale=m, digits=2)}"
        f"<figcaption>in ch {k}</figcaption></figure>"
        for k in range(W.shape[2])
    )
    return (
        f'<div class="vol-h" id="{ns("filter_title")}">The filter that made {name} channel {ch}: '
        f"W[:, :, :, {ch}], {W.shape[0]} × {W.shape[1]} × {W.shape[2]} (then + b and ReLU)</div>"
        f'<div class="eq-row">{grids}</div>'
    )
