"""The Convolution tab (a Shiny module): a multi-channel ``conv_forward`` one output cell at a time.

Input ``A_prev`` with 1-3 channels (small random integers, a built-in RGB picture or an upload) and
1-4 filters ``W (f, f, n_C_prev, n_C)``. For the chosen output cell ``Z[h, w, c]`` the page shows the
window in every input channel, the per-channel products and partial sums, and ``sum + b``, which equals
``conv_forward``'s cell. Output and input maps are linked (hover outlines, click chooses) and the window
can be played, paused and stepped. The server returns the volume and the chosen cell to the other tabs.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np
from shiny import module, reactive, render, ui

from cnnlab.explore import compute as C
from cnnlab.explore import html as H
from cnnlab.explore.bounds import CUSTOM_DEFAULT, set_choices
from cnnlab.explore.inputs import (
    CheckedInputs,
    Waiting,
    attempt,
    message_html,
    numeric,
    select,
    slider,
)

set_choices("filter", C.FILTERS)

ACCEPT = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", "image/*"]

CONTROLS = {
    "source": "select",
    "channels": "slider",
    "filters": "slider",
    "rand_h": "numeric",
    "rand_w": "numeric",
    "rand_seed": "numeric",
    "sample_seed": "numeric",
    "img_size": "select",
    "filter": "select",
    "filter_seed": "numeric",
    **{f"cw{i}": "numeric" for i in range(9)},
    "f": "slider",
    "pad": "slider",
    "stride": "slider",
    "bias": "numeric",
    "speed": "slider",
}


@dataclass(frozen=True)
class ConvState:
    """What the Convolution tab hands to the other tabs: its result and the chosen output cell."""

    result: Any  # reactive calc -> compute.ConvVolume (raises when there is none)
    cell: Any  # reactive calc -> (h, w, c), inside Z
    choose: Any  # function (h, w, c) -> None: choose another cell


def read_upload(files: list[dict] | None, image_size: int) -> np.ndarray:
    """The uploaded picture at ``image_size``: ``(s, s, 3)`` uint8; :class:`Waiting` before a file comes."""
    if not files:
        raise Waiting("Choose a picture to upload (PNG, JPEG, ...; at most 10 MB).")
    info = files[0]
    try:
        return C.read_upload(info["datapath"], image_size)
    except C.UploadError as exc:
        raise C.UploadError(f"{info.get('name', 'upload')}: {exc}") from exc


def _button(id: str, label: str) -> ui.Tag:
    return ui.input_action_button(id, label, class_="btn btn-sm btn-outline-secondary")


@module.ui
def sidebar() -> ui.Tag:
    return ui.sidebar(
        select("source"),
        slider("channels"),
        slider("filters"),
        ui.panel_conditional(
            "input.source === 'random'",
            ui.layout_columns(
                numeric("rand_h"), numeric("rand_w"), numeric("rand_seed", "seed"), col_widths=[4, 4, 4]
            ),
        ),
        ui.panel_conditional("input.source === 'cat' || input.source === 'dog'", numeric("sample_seed")),
        ui.panel_conditional(
            "input.source === 'upload'", ui.input_file("upload", "Picture (at most 10 MB)", accept=ACCEPT)
        ),
        ui.panel_conditional("input.source !== 'random'", select("img_size")),
        select("filter"),
        ui.panel_conditional(
            "input.filter === 'custom'",
            ui.layout_columns(
                *[numeric(f"cw{i}", None) for i in range(len(CUSTOM_DEFAULT))],
                col_widths=[4, 4, 4],
                gap="4px",
            ),
        ),
        ui.output_ui("filter_note"),
        numeric("filter_seed"),
        slider("f"),
        slider("pad"),
        slider("stride"),
        numeric("bias"),
        width=300,
    )


@module.ui
def main() -> ui.Tag:
    return ui.div(
        ui.output_ui("msg"),
        ui.card(
            ui.card_header("Forward: Z = conv_forward(A_prev, W, b) ", ui.output_ui("shapes", inline=True)),
            ui.output_ui("volumes"),
            fill=False,
        ),
        ui.card(
            ui.card_header("One output cell, channel by channel"),
            ui.div(
                _button("prev", "◀ step"),
                _button("play", "▶ play"),
                _button("next", "step ▶"),
                slider("speed", width="240px"),
                ui.output_ui("play_state", inline=True),
                class_="anim-row",
            ),
            ui.output_ui("cell_view"),
            fill=False,
        ),
        ui.card(ui.card_header("Output size"), ui.output_ui("formula"), fill=False),
    )


def _cell_from_click(value: Any, shape: tuple[int, int, int], c: int) -> tuple[int, int, int] | None:
    """A click's ``{h, w, c}`` as a cell inside ``shape (n_H, n_W, n_C)``, or None when it is not one;
    ``c`` null (a click on an input map) keeps filter ``c``."""
    if not isinstance(value, dict):
        return None
    try:
        h, w = int(value["h"]), int(value["w"])
        c = c if value.get("c") is None else int(value["c"])
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    if 0 <= h < shape[0] and 0 <= w < shape[1] and 0 <= c < shape[2]:
        return h, w, c
    return None


@module.server
def server(input: Any, output: Any, session: Any) -> ConvState:
    v = CheckedInputs(input, CONTROLS)
    chosen: reactive.Value[tuple[int, int, int]] = reactive.Value((0, 0, 0))
    playing = reactive.Value(False)

    @reactive.calc
    def volume_in() -> np.ndarray:
        src = v("source")
        n_C = v("channels")
        if src == "random":
            return C.random_volume(v("rand_h"), v("rand_w"), n_C, v("rand_seed"))
        size = int(v("img_size"))
        if src == "upload":
            return C.picture_channels(read_upload(input.upload(), size), n_C)
        return C.picture_channels(C.sample_image(src, v("sample_seed"), size), n_C)

    @reactive.calc
    def f_used() -> int:
        return 3 if v("filter") in C.FIXED_3X3 else v("f")

    @reactive.calc
    def weights() -> np.ndarray:
        custom = np.array([v(f"cw{i}") for i in range(9)], dtype=np.float64).reshape(3, 3)
        return C.filter_bank(v("filter"), f_used(), v("channels"), v("filters"), v("filter_seed"), custom)

    @reactive.calc
    def result() -> C.ConvVolume:
        return C.conv_volume(volume_in(), weights(), v("bias"), v("pad"), v("stride"))

    @reactive.calc
    def cell() -> tuple[int, int, int]:
        n_H, n_W, n_C = result().Z.shape
        h, w, c = chosen()
        return min(h, n_H - 1), min(w, n_W - 1), min(c, n_C - 1)

    def choose(h: int, w: int, c: int) -> None:
        chosen.set((h, w, c))

    # -- choosing, stepping and playing ------------------------------------------------------------
    @reactive.effect
    @reactive.event(input.click)
    def _clicked() -> None:
        ok, _, _ = attempt(result)
        got = None if ok is None else _cell_from_click(input.click(), ok.Z.shape, cell()[2])
        if got is None:
            v.note("click", f"output cell {str(input.click())[:60]} is not a cell of Z; it is ignored")
            return
        v.note("click", None)
        chosen.set(got)

    def step(delta: int) -> None:
        res, _, _ = attempt(result)
        if res is None:
            return
        n_H, n_W, _ = res.Z.shape
        h, w, c = cell()
        k = (h * n_W + w + delta) % (n_H * n_W)
        chosen.set((k // n_W, k % n_W, c))

    counts = {"prev": 0, "next": 0}

    def clicks(name: str) -> int:
        now = int(input[name]() or 0)
        n, counts[name] = now - counts[name], now  # quick clicks all count
        return max(n, 0)

    @reactive.effect
    @reactive.event(input.next)
    def _next() -> None:
        step(clicks("next"))

    @reactive.effect
    @reactive.event(input.prev)
    def _prev() -> None:
        step(-clicks("prev"))

    @reactive.effect
    @reactive.event(input.play)
    def _toggle() -> None:
        playing.set(not playing())
        ui.update_action_button("play", label="⏸ pause" if playing() else "▶ play")

    @reactive.effect
    def _tick() -> None:
        if not playing():
            return
        reactive.invalidate_later(1.0 / v("speed"))
        with reactive.isolate():
            step(1)

    @reactive.effect
    def _fixed_f() -> None:  # a 3x3-only filter holds the f slider at 3
        if v("filter") in C.FIXED_3X3 and v("f") != 3:
            ui.update_slider("f", value=3)

    # -- outputs -----------------------------------------------------------------------------------
    @render.ui
    def msg():
        _, err, waiting = attempt(result)
        return message_html(session.ns("msg"), err, waiting, v.notes())

    @render.ui
    def filter_note():
        name = v("filter")
        text = "Filters 2 to n_C are random integers in [−2, 2] drawn with the filter seed."
        if name == "random":
            text = "Every filter is random integers in [−2, 2] drawn with the filter seed."
        else:
            text = f"Filter 1 is {C.FILTERS[name]} in every input channel. " + text
        if name in C.FIXED_3X3:
            text += f" {C.FILTERS[name]} is defined at 3 × 3, so f = 3."
        return ui.div(text, class_="note")

    @render.ui
    def play_state():
        if not playing():
            return None
        return ui.span("playing", class_="note", id=session.ns("playing"))

    @render.ui
    def shapes():
        res, _, _ = attempt(result)
        if res is None:
            return None
        a, z = res.A.shape, res.Z.shape
        return ui.HTML(
            f'<span class="shape" id="{session.ns("shape_text")}">A_prev {a[0]} × {a[1]} × {a[2]}, '
            f"W {res.f} × {res.f} × {a[2]} × {z[2]}, Z {z[0]} × {z[1]} × {z[2]}</span>"
        )

    @render.ui
    def volumes():
        res, _, _ = attempt(result)
        if res is None:
            return None
        return ui.HTML(volumes_html(res, cell(), session.ns))

    @render.ui
    def cell_view():
        res, _, _ = attempt(result)
        if res is None:
            return None
        return ui.HTML(cell_html(C.conv_cell(res, *cell()), res, session.ns))

    @render.ui
    def formula():
        try:
            A = volume_in()
        except (Waiting, ValueError, C.CnnlabError):
            return None
        return ui.HTML(formula_html(A.shape, f_used(), v("pad"), v("stride"), attempt(result)[0], session.ns))

    return ConvState(result=result, cell=cell, choose=choose)


# -- HTML of the tab (plain functions of the arrays) --------------------------------------------------------
def _scale(arr: np.ndarray) -> tuple[float, float]:
    return (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)


def volumes_html(res: C.ConvVolume, cell: tuple[int, int, int], ns: Any) -> str:
    """The padded input (one map per channel), the filters and the output (one map per filter), linked."""
    h, w, c = cell
    rows, cols = C.window_of(h, w, res.f, res.stride)
    n_C_prev, n_C = res.W.shape[2], res.W.shape[3]
    picture = max(res.A.shape[:2]) > C.GRID_MAX
    in_kind = "gray" if picture and res.A.min() >= 0 else "diverging"
    in_scale = _scale(res.A_pad)
    ins = "".join(
        H.map_view(res.A_pad[:, :, k], map_id=ns(f"in{k}"), role="in", channel=k, pad=res.pad,
                   caption=f"A_prev_pad[:, :, {k}]", scale=in_scale, kind=in_kind, window=(rows, cols))
        for k in range(n_C_prev)
    )  # fmt: skip
    w_scale = _scale(res.W)
    filt_rows = []
    for k in range(n_C_prev):
        tds = "".join(
            f'<td class="{"selw" if j == c else ""}">'
            + H.grid(res.W[:, :, k, j], grid_id=ns(f"w{k}_{j}"), scale=max(map(abs, w_scale)))
            + "</td>"
            for j in range(n_C)
        )
        filt_rows.append(f"<tr><th>ch {k}</th>{tds}</tr>")
    heads = "".join(f"<th>filter {j}<br><small>b = {C.fmt(res.b[j])}</small></th>" for j in range(n_C))
    filters = f'<table class="wtable"><tr><th></th>{heads}</tr>{"".join(filt_rows)}</table>'
    z_scale = _scale(res.Z)
    outs = "".join(
        H.map_view(res.Z[:, :, j], map_id=ns(f"out{j}"), role="out", channel=j, caption=f"Z[:, :, {j}]",
                   scale=z_scale, cell=(h, w) if j == c else None)
        for j in range(n_C)
    )  # fmt: skip
    body = (
        '<div class="vol-row">'
        f'<div class="vol"><div class="vol-h">A_prev, zero-padded (pad = {res.pad})</div>'
        f'<div class="maps-row">{ins}</div>{H.colorbar(*in_scale, in_kind) if picture else ""}</div>'
        f'<div class="vol"><div class="vol-h">W: one column per filter, one row per input channel</div>'
        f"{filters}</div>"
        f'<div class="vol"><div class="vol-h">Z: one map per filter (click a cell)</div>'
        f'<div class="maps-row">{outs}</div>{H.colorbar(*z_scale) if picture else ""}</div>'
        "</div>"
    )
    return H.linked(
        body, group="conv", input_id=ns("click"), f=res.f, stride=res.stride, block_id=ns("linked")
    )


def cell_html(cc: C.ConvCell, res: C.ConvVolume, ns: Any) -> str:
    """The chosen cell: each channel's window ⊙ weights = products and partial sum, then the total."""
    n_H, n_W, _ = res.Z.shape
    k = cc.h * n_W + cc.w
    head = (
        f'<p class="note" id="{ns("cell_head")}">Window {k + 1} of {n_H * n_W} of filter {cc.c}: output cell '
        f"<b>Z[{cc.h}, {cc.w}, {cc.c}]</b> reads rows {cc.rows[0]}–{cc.rows[1] - 1} and columns "
        f"{cc.cols[0]}–{cc.cols[1] - 1} of the padded input (vert_start = h × stride = {cc.h} × "
        f"{res.stride}, horiz_start = w × stride = {cc.w} × {res.stride}), in every channel.</p>"
    )
    rows = []
    for ch in range(cc.a_slice.shape[2]):
        terms = html.escape(C.terms_text(cc.a_slice[:, :, ch], cc.W[:, :, ch]))
        rows.append(
            f'<div class="eq-row" data-ch="{ch}">'
            f"<figure>{H.grid(cc.a_slice[:, :, ch], grid_id=ns(f'win{ch}'))}"
            f"<figcaption>a_slice_prev[:, :, {ch}]</figcaption></figure>"
            '<span class="op">⊙</span>'
            f"<figure>{H.grid(cc.W[:, :, ch], grid_id=ns(f'cw{ch}'))}"
            f"<figcaption>W[:, :, {ch}, {cc.c}]</figcaption></figure>"
            '<span class="op">=</span>'
            f"<figure>{H.grid(cc.products[:, :, ch], grid_id=ns(f'prod{ch}'))}"
            "<figcaption>products</figcaption></figure>"
            '<span class="op">→</span>'
            f'<div class="terms">channel {ch}: {terms}'
            f' = <b id="{ns(f"partial{ch}")}">{C.fmt(cc.partial[ch], 4)}</b></div>'
            "</div>"
        )
    partials = " + ".join(C.signed(p, 4) for p in cc.partial)
    total = (
        f'<div class="eqn">Z[{cc.h}, {cc.w}, {cc.c}] = <span id="{ns("sum_terms")}">{partials}</span>'
        f' + b[{cc.c}] ({C.signed(cc.b, 4)}) = <b id="{ns("sum")}">{C.fmt(cc.z, 4)}</b></div>'
        f'<p class="note">The sum over all {cc.a_slice.size} products is <code>conv_single_step</code>; '
        f"<code>conv_forward</code>'s output has Z[{cc.h}, {cc.w}, {cc.c}] = "
        f'<b id="{ns("z")}">{C.fmt(cc.z_forward, 4)}</b>.</p>'
    )
    return head + "".join(rows) + total


def formula_html(
    a_shape: tuple[int, ...], f: int, pad: int, stride: int, res: C.ConvVolume | None, ns: Any
) -> str:
    """The lab's output-size formula for both axes with the numbers filled in; impossible settings
    (no window fits) in red, and the rows or columns that a stride skips named."""
    lines = []
    for name, n_prev in (("n_H", a_shape[0]), ("n_W", a_shape[1])):
        chk = C.size_check(n_prev, f, pad, stride, name)
        if not chk.ok:
            lines.append(
                f'<div class="bad" id="{ns("impossible")}">{html.escape(chk.text)} — impossible: '
                f"f = {f} is larger than {name}_prev + 2·pad = {n_prev + 2 * pad}, no window fits</div>"
            )
            continue
        extra = ""
        if chk.leftover:
            extra = (
                f' <span class="note">(the last {chk.leftover} of the {n_prev + 2 * pad} padded '
                f"{'rows' if name == 'n_H' else 'columns'} are not read: stride {stride} does not "
                "tile them)</span>"
            )
        lines.append(f"<div>{html.escape(chk.text)}{extra}</div>")
    if res is not None:
        lines.append(f"<div>n_C = the number of filters = {res.Z.shape[2]}</div>")
    tail = ""
    if res is not None:
        tail = (
            f'<div class="note">conv_forward returned Z of shape <span id="{ns("shape_check")}">'
            f"{res.Z.shape[0]} × {res.Z.shape[1]} × {res.Z.shape[2]}</span>.</div>"
        )
    return f'<div class="formula" id="{ns("formula_text")}">{"".join(lines)}</div>{tail}'
