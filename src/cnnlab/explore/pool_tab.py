"""The Pooling tab (a Shiny module): ``pool_forward`` and the backward pass through one output cell.

Input: small random integers or the Convolution tab's map of filter 1. The input and output maps are
linked like the Convolution tab's (hover outlines, click chooses the cell); the backward pass shows
``create_mask_from_window`` (max) or ``distribute_value`` (average) and ``pool_backward``'s ``dA_prev``.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
from shiny import module, reactive, render, ui

from cnnlab.explore import compute as C
from cnnlab.explore import html as H
from cnnlab.explore.conv_tab import ConvState
from cnnlab.explore.inputs import CheckedInputs, Waiting, attempt, message_html, numeric, radio, slider

CONTROLS = {
    "pool_source": "radio",
    "pool_h": "numeric",
    "pool_w": "numeric",
    "pool_seed": "numeric",
    "pool_mode": "radio",
    "pool_f": "slider",
    "pool_stride": "slider",
    "pool_grad": "numeric",
}


@module.ui
def panel() -> ui.Tag:
    return ui.layout_sidebar(
        ui.sidebar(
            radio("pool_source"),
            ui.panel_conditional(
                "input.pool_source === 'random'",
                ui.layout_columns(
                    numeric("pool_h"), numeric("pool_w"), numeric("pool_seed"), col_widths=[4, 4, 4]
                ),
            ),
            radio("pool_mode", inline=True),
            slider("pool_f"),
            slider("pool_stride"),
            numeric("pool_grad"),
            width=300,
        ),
        ui.div(
            ui.output_ui("msg"),
            ui.card(
                ui.card_header("Z = pool_forward(A_prev) ", ui.output_ui("shapes", inline=True)),
                ui.output_ui("maps"),
                ui.output_ui("formula"),
                fill=False,
            ),
            ui.card(
                ui.card_header("Backward pass through one output cell"),
                ui.div(
                    ui.input_action_button("prev", "◀ step", class_="btn btn-sm btn-outline-secondary"),
                    ui.input_action_button("next", "step ▶", class_="btn btn-sm btn-outline-secondary"),
                    ui.span("or click a cell of Z or A_prev", class_="note"),
                    class_="anim-row",
                ),
                ui.output_ui("backward"),
                fill=False,
            ),
        ),
    )


@module.server
def server(input: Any, output: Any, session: Any, conv: ConvState) -> None:
    v = CheckedInputs(input, CONTROLS)
    chosen: reactive.Value[tuple[int, int]] = reactive.Value((0, 0))

    @reactive.calc
    def pool_input() -> np.ndarray:
        if v("pool_source") == "conv":
            try:
                return conv.result().Z[:, :, 0]
            except Waiting as exc:
                raise Waiting(f"The Convolution tab has no output yet: {exc}") from exc
        return C.random_array(v("pool_h"), v("pool_w"), v("pool_seed"))

    @reactive.calc
    def pool_out() -> np.ndarray:
        A = pool_input()
        f, s = v("pool_f"), v("pool_stride")
        for name, n in (("n_H", A.shape[0]), ("n_W", A.shape[1])):
            chk = C.size_check(n, f, None, s, name)
            if not chk.ok:
                raise C.SettingsError(f"no window fits: f = {f} is larger than the input, so {chk.text}")
        return C.pool(A, f, s, v("pool_mode"))

    @reactive.calc
    def cell() -> C.PoolCell:
        Z = pool_out()
        h, w = chosen()
        h, w = min(h, Z.shape[0] - 1), min(w, Z.shape[1] - 1)
        return C.pool_cell(pool_input(), v("pool_f"), v("pool_stride"), v("pool_mode"), h, w, v("pool_grad"))

    @reactive.effect
    @reactive.event(input.click)
    def _clicked() -> None:
        Z, _, _ = attempt(pool_out)
        value = input.click()
        try:
            h, w = int(value["h"]), int(value["w"])
        except (KeyError, TypeError, ValueError, OverflowError, IndexError):
            h, w = -1, -1
        if Z is None or not (0 <= h < Z.shape[0] and 0 <= w < Z.shape[1]):
            v.note("click", f"output cell {str(value)[:60]} is not a cell of Z; it is ignored")
            return
        v.note("click", None)
        chosen.set((h, w))

    counts = {"prev": 0, "next": 0}

    def step(name: str, sign: int) -> None:
        now = int(input[name]() or 0)
        n, counts[name] = now - counts[name], now
        Z, _, _ = attempt(pool_out)
        if Z is None:
            return
        c = cell()
        k = (c.h * Z.shape[1] + c.w + sign * max(n, 0)) % Z.size
        chosen.set(divmod(k, Z.shape[1]))

    @reactive.effect
    @reactive.event(input.next)
    def _next() -> None:
        step("next", +1)

    @reactive.effect
    @reactive.event(input.prev)
    def _prev() -> None:
        step("prev", -1)

    @render.ui
    def msg():
        _, err, waiting = attempt(cell)
        return message_html(session.ns("msg"), err, waiting, v.notes())

    @render.ui
    def shapes():
        Z, _, _ = attempt(pool_out)
        if Z is None:
            return None
        A = pool_input()
        return ui.HTML(
            f'<span class="shape" id="{session.ns("shape_text")}">A_prev {A.shape[0]} × {A.shape[1]}, '
            f"Z {Z.shape[0]} × {Z.shape[1]}</span>"
        )

    @render.ui
    def maps():
        c, _, _ = attempt(cell)
        if c is None:
            return None
        A, Z = pool_input(), pool_out()
        body = (
            '<div class="vol-row">'
            + H.map_view(A, map_id=session.ns("in"), role="in", caption="A_prev", window=(c.rows, c.cols))
            + H.map_view(Z, map_id=session.ns("out"), role="out", caption="Z", cell=(c.h, c.w))
            + "</div>"
        )
        return ui.HTML(
            H.linked(
                body,
                group="pool",
                input_id=session.ns("click"),
                f=v("pool_f"),
                stride=v("pool_stride"),
                block_id=session.ns("linked"),
            )
        )

    @render.ui
    def formula():
        Z, _, _ = attempt(pool_out)
        A, _, _ = attempt(pool_input)
        if A is None:
            return None
        lines = [
            C.size_check(n, v("pool_f"), None, v("pool_stride"), name).text
            for name, n in (("n_H", A.shape[0]), ("n_W", A.shape[1]))
        ]
        cls = "formula note" if Z is not None else "formula bad"
        return ui.HTML(
            f'<div class="{cls}">'
            + "".join(f"<div>{html.escape(t)}</div>" for t in lines)
            + "<div>(pooling has no padding)</div></div>"
        )

    @render.ui
    def backward():
        c, _, _ = attempt(cell)
        if c is None:
            return None
        return ui.HTML(backward_html(c, v("pool_mode"), session.ns))


def backward_html(cell: C.PoolCell, mode: str, ns: Any) -> str:
    """Forward value of the cell, its local gradient and ``pool_backward``'s ``dA_prev``."""
    f = cell.window.shape[0]
    if mode == "max":
        how = (
            "<code>create_mask_from_window(window)</code> marks the maximum (the first one in row-major "
            f"order on ties, as PyTorch); the gradient dA = {C.fmt(cell.grad)} flows only there."
        )
        cap = "mask × dA"
    else:
        how = (
            f"<code>distribute_value(dA, ({f}, {f}))</code> spreads dA = {C.fmt(cell.grad)} evenly: "
            f"each of the {f * f} inputs gets dA / {f * f}."
        )
        cap = "distribute_value(dA)"
    head = (
        f'<p class="note">Forward: Z[{cell.h}, {cell.w}] = {mode} of the window = '
        f'<b id="{ns("cell_value")}">{C.fmt(cell.value, 4)}</b>. Backward: {how}</p>'
    )
    return head + (
        '<div class="eq-row">'
        f"<figure>{H.grid(cell.window, grid_id=ns('win'))}<figcaption>window</figcaption></figure>"
        '<span class="op">→</span>'
        f"<figure>{H.grid(cell.local, grid_id=ns('local'))}<figcaption>{cap}</figcaption></figure>"
        '<span class="op">→</span>'
        f"<figure>{H.array_view(cell.dA_prev, grid_id=ns('dprev'), window=(cell.rows, cell.cols))}"
        "<figcaption>dA_prev = pool_backward(dA that is 0 except at this cell)</figcaption></figure>"
        "</div>"
    )
