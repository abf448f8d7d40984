"""The Conv backward tab (a Shiny module): ``conv_backward`` of the Convolution tab's layer.

For a chosen upstream gradient ``dZ`` (1 at the Convolution tab's chosen cell, or all ones) it shows
``dA_prev``, ``dW`` and ``db`` from :func:`cnnlab.ops.conv_backward`, and for the chosen cell the lab's
three formulas with the numbers filled in: which window of ``A_prev`` and which weights its
contribution came from. The maps are linked like the Convolution tab's: hover a ``dZ`` cell to outline
the part of ``dA_prev`` it reaches, click to choose it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from shiny import module, reactive, render, ui

from cnnlab.explore import compute as C
from cnnlab.explore import html as H
from cnnlab.explore.conv_tab import ConvState, _cell_from_click
from cnnlab.explore.inputs import CheckedInputs, attempt, message_html, radio

CONTROLS = {"dz": "radio"}


@module.ui
def panel() -> ui.Tag:
    return ui.layout_sidebar(
        ui.sidebar(
            radio("dz"),
            ui.markdown(
                "The layer is the Convolution tab's: change the input, filters, f, pad or stride there. "
                "Click a cell of dZ (or of Z on the Convolution tab) to choose it."
            ),
            width=300,
        ),
        ui.div(
            ui.output_ui("msg"),
            ui.card(
                ui.card_header("dA_prev, dW, db = conv_backward(dZ, cache)"),
                ui.output_ui("grads"),
                fill=False,
            ),
            ui.card(
                ui.card_header("Where the chosen cell's contribution comes from"),
                ui.output_ui("formulas"),
                fill=False,
            ),
        ),
    )


@module.server
def server(input: Any, output: Any, session: Any, conv: ConvState) -> None:
    v = CheckedInputs(input, CONTROLS)

    @reactive.calc
    def gradients() -> C.ConvGrads:
        res = conv.result()
        return C.conv_grads(res, C.upstream(res, v("dz"), conv.cell()))

    @reactive.effect
    @reactive.event(input.click)
    def _clicked() -> None:
        res, _, _ = attempt(conv.result)
        got = None if res is None else _cell_from_click(input.click(), res.Z.shape, conv.cell()[2])
        if got is None:
            v.note("click", f"output cell {str(input.click())[:60]} is not a cell of dZ; it is ignored")
            return
        v.note("click", None)
        conv.choose(*got)

    @render.ui
    def msg():
        _, err, waiting = attempt(gradients)
        return message_html(session.ns("msg"), err, waiting, v.notes())

    @render.ui
    def grads():
        g, _, _ = attempt(gradients)
        if g is None:
            return None
        return ui.HTML(grads_html(conv.result(), g, conv.cell(), session.ns))

    @render.ui
    def formulas():
        g, _, _ = attempt(gradients)
        if g is None:
            return None
        return ui.HTML(formulas_html(conv.result(), g, conv.cell(), v("dz"), session.ns))


def _scale(arr: np.ndarray) -> tuple[float, float]:
    return (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)


def _wtable(arr: np.ndarray, ns: Any, prefix: str, selected: int | None = None) -> str:
    """``arr (f, f, n_C_prev, n_C)`` as a table of grids: one row per input channel, one column per filter."""
    m = max(map(abs, _scale(arr)))
    heads = "".join(f"<th>filter {j}</th>" for j in range(arr.shape[3]))
    rows = "".join(
        f"<tr><th>ch {k}</th>"
        + "".join(
            f'<td class="{"selw" if j == selected else ""}">'
            + H.grid(arr[:, :, k, j], grid_id=ns(f"{prefix}{k}_{j}"), scale=m)
            + "</td>"
            for j in range(arr.shape[3])
        )
        + "</tr>"
        for k in range(arr.shape[2])
    )
    return f'<table class="wtable"><tr><th></th>{heads}</tr>{rows}</table>'


def grads_html(res: C.ConvVolume, g: C.ConvGrads, cell: tuple[int, int, int], ns: Any) -> str:
    """dZ (one map per filter), dA_prev (one map per input channel, linked to dZ), dW and db."""
    h, w, c = cell
    rows, cols = C.window_of(h, w, res.f, res.stride)
    p = res.pad
    window = ((rows[0] - p, rows[1] - p), (cols[0] - p, cols[1] - p))
    dz_scale, da_scale = _scale(g.dZ), _scale(g.dA_prev)
    dzs = "".join(
        H.map_view(g.dZ[:, :, j], map_id=ns(f"dz{j}"), role="out", channel=j, caption=f"dZ[:, :, {j}]",
                   scale=dz_scale, cell=(h, w) if j == c else None)
        for j in range(g.dZ.shape[2])
    )  # fmt: skip
    das = "".join(
        H.map_view(g.dA_prev[:, :, k], map_id=ns(f"da{k}"), role="in", channel=k, offset=p,
                   caption=f"dA_prev[:, :, {k}]", scale=da_scale, window=window)
        for k in range(g.dA_prev.shape[2])
    )  # fmt: skip
    db = H.grid(g.db[None, :], grid_id=ns("db"))
    big = max(res.A.shape[:2]) > C.GRID_MAX
    body = (
        '<div class="vol-row">'
        f'<div class="vol"><div class="vol-h">dZ (click a cell)</div><div class="maps-row">{dzs}</div>'
        f"{H.colorbar(*dz_scale) if big else ''}</div>"
        f'<div class="vol"><div class="vol-h">dA_prev (the padding is cropped off)</div>'
        f'<div class="maps-row">{das}</div>{H.colorbar(*da_scale) if big else ""}</div>'
        f'<div class="vol"><div class="vol-h">dW, same layout as W</div>{_wtable(g.dW, ns, "dw", c)}'
        f'<div class="vol-h" style="margin-top:8px">db, one per filter</div>{db}</div>'
        "</div>"
    )
    return H.linked(
        body, group="bwd", input_id=ns("click"), f=res.f, stride=res.stride, block_id=ns("linked")
    )


def formulas_html(res: C.ConvVolume, g: C.ConvGrads, cell: tuple[int, int, int], mode: str, ns: Any) -> str:
    """The lab's three update rules for output cell ``(h, w, c)`` with its numbers filled in."""
    h, w, c = cell
    cc = C.conv_cell(res, h, w, c)
    dz = float(g.dZ[h, w, c])
    (vs, ve), (hs, he) = cc.rows, cc.cols
    n_H, n_W, _ = res.Z.shape
    grids = "".join
    da_part = grids(
        f"<figure>{H.grid(cc.W[:, :, k] * dz, grid_id=ns(f'da_part{k}'))}"
        f"<figcaption>W[:, :, {k}, {c}] × {C.signed(dz)}</figcaption></figure>"
        for k in range(cc.W.shape[2])
    )
    dw_part = grids(
        f"<figure>{H.grid(cc.a_slice[:, :, k] * dz, grid_id=ns(f'dw_part{k}'))}"
        f"<figcaption>a_slice_prev[:, :, {k}] × {C.signed(dz)}</figcaption></figure>"
        for k in range(cc.W.shape[2])
    )
    if mode == "cell":
        whole = (
            f"dZ is 0 everywhere else, so this one contribution is all of dW[:, :, :, {c}] and all of "
            "dA_prev (cropped to the unpadded input); every other filter's dW is 0."
        )
    else:
        whole = (
            f"dZ is 1 at all {n_H * n_W} cells of each filter, so dW[:, :, :, {c}] is the sum of the "
            f"{n_H * n_W} windows a_slice_prev, and dA_prev adds up every filter's W at every window."
        )
    db_total = float(g.db[c])
    terms = " + ".join(C.signed(x) for x in g.dZ[:, :, c].ravel()[:12]) + (" + …" if n_H * n_W > 12 else "")
    return (
        f'<p class="note">Output cell <b>(h, w, c) = ({h}, {w}, {c})</b>, dZ[{h}, {w}, {c}] = '
        f'<b id="{ns("dz_value")}">{C.fmt(dz)}</b>; its window is rows vert_start:vert_end = {vs}:{ve} and '
        f"columns horiz_start:horiz_end = {hs}:{he} of the padded input. {whole}</p>"
        f'<div class="eqn">1. dA_prev_pad[{vs}:{ve}, {hs}:{he}, :] += W[:, :, :, {c}] × dZ[{h}, {w}, {c}]'
        f" = W[:, :, :, {c}] × {C.signed(dz)}</div>"
        f'<div class="eq-row">{da_part}</div>'
        f'<div class="eqn">2. dW[:, :, :, {c}] += a_slice_prev × dZ[{h}, {w}, {c}]'
        f" = A_prev_pad[{vs}:{ve}, {hs}:{he}, :] × {C.signed(dz)}</div>"
        f'<div class="eq-row">{dw_part}</div>'
        f'<div class="eqn">3. db[{c}] += dZ[{h}, {w}, {c}] = {C.signed(dz)}; summed over every cell, '
        f'db[{c}] = {terms} = <b id="{ns("db_total")}">{C.fmt(db_total)}</b></div>'
    )
