"""The Shiny app behind ``cnnlab explore``: Convolution, Pooling and Model tabs.

``create_app(run_dir=None)`` builds the :class:`shiny.App`; ``serve(host, port, run_dir)`` runs it with
uvicorn behind :class:`UploadLimit`. Every number in the page comes from :mod:`cnnlab.explore.compute`
(that is, from :mod:`cnnlab.ops`) or from the trained model's predictor.
"""

from __future__ import annotations

import html as _esc
import os
import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
from shiny import App, reactive, render, ui

from cnnlab.errors import CnnlabError
from cnnlab.explore import compute as C
from cnnlab.explore import html as H

SOURCES = {
    "random": "Small random integers",
    "cat": "Built-in cat",
    "dog": "Built-in dog",
    "upload": "Upload a picture",
}
IMAGE_SIZES = {"8": "8 × 8", "16": "16 × 16", "32": "32 × 32", "64": "64 × 64"}
_ACCEPT = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", "image/*"]
_CUSTOM_DEFAULT = [1, 0, -1, 1, 0, -1, 1, 0, -1]


class _Waiting(Exception):
    """Nothing to show yet (no file uploaded)."""


# -- layout ---------------------------------------------------------------------------------------------
def _conv_sidebar() -> ui.Sidebar:
    return ui.sidebar(
        ui.input_select("source", "Input", SOURCES, selected="random"),
        ui.panel_conditional(
            "input.source === 'random'",
            ui.layout_columns(
                ui.input_numeric("rand_h", "rows", 6, min=1, max=16),
                ui.input_numeric("rand_w", "columns", 6, min=1, max=16),
                ui.input_numeric("rand_seed", "seed", 1, min=0),
                col_widths=[4, 4, 4],
            ),
        ),
        ui.panel_conditional(
            "input.source === 'cat' || input.source === 'dog'",
            ui.input_numeric("sample_seed", "which sample (seed)", 0, min=0),
        ),
        ui.panel_conditional(
            "input.source === 'upload'",
            ui.input_file("upload", "Picture (at most 10 MB)", accept=_ACCEPT),
        ),
        ui.panel_conditional(
            "input.source !== 'random'",
            ui.input_select("img_size", "Resize to (grayscale)", IMAGE_SIZES, selected="16"),
        ),
        ui.input_select("filter", "Filter", C.FILTERS, selected="vertical"),
        ui.panel_conditional(
            "input.filter === 'random'", ui.input_numeric("filter_seed", "filter seed", 0, min=0)
        ),
        ui.panel_conditional(
            "input.filter === 'custom'",
            ui.layout_columns(
                *[ui.input_numeric(f"cw{i}", None, v, step=1) for i, v in enumerate(_CUSTOM_DEFAULT)],
                col_widths=[4, 4, 4],
                gap="4px",
            ),
        ),
        ui.input_slider("f", "f (filter size)", min=1, max=7, value=3, step=1),
        ui.output_ui("f_note"),
        ui.input_slider("pad", "pad", min=0, max=4, value=1, step=1),
        ui.input_slider("stride", "stride", min=1, max=4, value=1, step=1),
        ui.input_numeric("bias", "bias b", 0, step=1),
        width=300,
    )


def _step_button(button_id: str, label: str, delta: int) -> ui.Tag:
    """A button that moves the ``window`` slider by ``delta`` (wrapping around) in the browser, so the slider
    stays the one place the window number lives and quick clicks all count."""
    js = (
        "var s = $('#window').data('ionRangeSlider'); var n = s.options.max;"
        f"s.update({{from: ((s.result.from - 1 + ({delta})) % n + n) % n + 1}});"
        "$('#window').trigger('change');"
    )
    return ui.tags.button(
        label, id=button_id, type="button", class_="btn btn-sm btn-outline-secondary", onclick=js
    )


def _conv_main() -> ui.Tag:
    return ui.div(
        ui.output_ui("conv_msg"),
        ui.layout_columns(
            ui.card(
                ui.card_header("Input ", ui.output_ui("conv_in_shape", inline=True)),
                ui.output_ui("conv_input_view"),
            ),
            ui.card(
                ui.card_header("Zero-padded input ", ui.output_ui("conv_pad_shape", inline=True)),
                ui.output_ui("conv_padded"),
            ),
            ui.card(
                ui.card_header("Output feature map Z ", ui.output_ui("conv_out_shape", inline=True)),
                ui.output_ui("conv_output"),
            ),
            col_widths={"sm": 12, "lg": [4, 4, 4]},
            fill=False,
        ),
        ui.card(ui.card_header("Output size"), ui.output_ui("conv_formula"), fill=False),
        ui.card(
            ui.card_header("One window at a time"),
            ui.div(
                _step_button("win_prev", "◀ previous", -1),
                ui.input_slider("window", None, min=1, max=36, value=1, step=1, width="320px"),
                _step_button("win_next", "next ▶", +1),
                style="display:flex; align-items:center; gap:12px; flex-wrap:wrap",
            ),
            ui.output_ui("conv_step"),
            fill=False,
        ),
    )


def _pool_sidebar() -> ui.Sidebar:
    return ui.sidebar(
        ui.input_radio_buttons(
            "pool_source",
            "Input",
            {"random": "Small random integers", "conv": "The Convolution tab's output Z"},
            selected="random",
        ),
        ui.panel_conditional(
            "input.pool_source === 'random'",
            ui.layout_columns(
                ui.input_numeric("pool_h", "rows", 6, min=1, max=16),
                ui.input_numeric("pool_w", "columns", 6, min=1, max=16),
                ui.input_numeric("pool_seed", "seed", 3, min=0),
                col_widths=[4, 4, 4],
            ),
        ),
        ui.input_radio_buttons(
            "pool_mode", "Mode", {"max": "max", "average": "average"}, selected="max", inline=True
        ),
        ui.input_slider("pool_f", "f (window size)", min=1, max=5, value=2, step=1),
        ui.input_slider("pool_stride", "stride", min=1, max=4, value=2, step=1),
        ui.input_numeric("pool_grad", "upstream gradient dA of the chosen cell", 1, step=0.5),
        width=300,
    )


def _pool_main() -> ui.Tag:
    return ui.div(
        ui.output_ui("pool_msg"),
        ui.layout_columns(
            ui.card(
                ui.card_header("Input A_prev ", ui.output_ui("pool_in_shape", inline=True)),
                ui.output_ui("pool_input_view"),
            ),
            ui.card(
                ui.card_header("Output Z ", ui.output_ui("pool_out_shape", inline=True)),
                ui.output_ui("pool_output"),
                ui.output_ui("pool_formula"),
            ),
            col_widths={"sm": 12, "lg": [6, 6]},
            fill=False,
        ),
        ui.card(
            ui.card_header("Backward pass through one output cell"),
            ui.input_slider(
                "pool_cell", "output cell (row-major)", min=1, max=9, value=1, step=1, width="320px"
            ),
            ui.output_ui("pool_backward"),
            fill=False,
        ),
    )


def _model_panel(has_run: bool) -> ui.Tag:
    if not has_run:
        return ui.card(
            ui.card_header("No trained model loaded"),
            ui.markdown(
                "Start the explorer with a run directory made by `cnnlab train` to see its training curves, "
                "the feature maps of each conv layer for a picture you choose, and its predicted "
                "probabilities:\n\n```\ncnnlab explore --run runs/NAME\n```"
            ),
        )
    return ui.layout_sidebar(
        ui.sidebar(
            ui.input_select(
                "m_source",
                "Picture",
                {"cat": "Built-in cat", "dog": "Built-in dog", "upload": "Upload a picture"},
            ),
            ui.panel_conditional(
                "input.m_source !== 'upload'", ui.input_numeric("m_seed", "which sample (seed)", 0, min=0)
            ),
            ui.panel_conditional(
                "input.m_source === 'upload'",
                ui.input_file("m_upload", "Picture (at most 10 MB)", accept=_ACCEPT),
            ),
            ui.input_slider("m_channels", "channels shown per layer", min=1, max=16, value=8, step=1),
            width=300,
        ),
        ui.div(
            ui.output_ui("model_msg"),
            ui.layout_columns(
                ui.card(ui.card_header("Training curves"), ui.output_ui("model_curves")),
                ui.card(ui.card_header("Predicted probabilities"), ui.output_ui("model_proba")),
                col_widths={"sm": 12, "lg": [7, 5]},
                fill=False,
            ),
            ui.card(
                ui.card_header("Feature maps after each conv layer (+ ReLU)"),
                ui.output_ui("model_maps"),
                fill=False,
            ),
        ),
    )


def app_ui(has_run: bool, run_label: str = "") -> ui.Tag:
    """The page: a navbar with the three tabs."""
    return ui.page_navbar(
        ui.nav_panel("Convolution", ui.layout_sidebar(_conv_sidebar(), _conv_main())),
        ui.nav_panel("Pooling", ui.layout_sidebar(_pool_sidebar(), _pool_main())),
        ui.nav_panel("Model", _model_panel(has_run)),
        title="cnnlab explore",
        id="tab",
        header=ui.head_content(ui.tags.style(C_CSS)),
        window_title="cnnlab explore" + (f" — {run_label}" if run_label else ""),
    )


C_CSS = H.CSS


# -- server ---------------------------------------------------------------------------------------------
def _html(s: str) -> ui.HTML:
    return ui.HTML(s)


def _shape(arr: np.ndarray, span_id: str) -> ui.HTML:
    n_H, n_W = np.shape(arr)[:2]
    return ui.HTML(f'<span class="shape" id="{span_id}">{n_H} × {n_W}</span>')


def _conv_filter(name: str, f: int, seed: int, custom: list[Any]) -> np.ndarray:
    if name == "custom":
        try:
            vals = [float(v) for v in custom]
        except (TypeError, ValueError) as exc:
            raise ValueError("every entry of the custom filter must be a number") from exc
        return C.filter_kernel("custom", 3, custom=np.array(vals).reshape(3, 3))
    return C.filter_kernel(name, 3 if name in C.FIXED_3X3 else f, seed=seed)


def _int(value: Any, default: int, lo: int, hi: int | None = None) -> int:
    """A numeric input as an int clamped to [lo, hi] (empty boxes fall back to ``default``)."""
    try:
        v = int(value)
    except (TypeError, ValueError):
        v = default
    v = max(lo, v)
    return v if hi is None else min(v, hi)


def _float(value: Any, default: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return default
    return v if np.isfinite(v) else default


def _uploaded(files: list[dict] | None, image_size: int) -> np.ndarray:
    if not files:
        raise _Waiting("Choose a picture to upload (PNG, JPEG, ...; at most 10 MB).")
    info = files[0]
    try:
        return C.read_upload(info["datapath"], image_size)
    except C.UploadError as exc:
        raise C.UploadError(f"{info.get('name', 'upload')}: {exc}") from exc


def make_server(run_dir: str | os.PathLike | None, predictor: Any = None):
    """The server function of the app; ``predictor`` is the run's (already loaded) predictor."""

    def server(input, output, session):
        # ---------------------------------------------------------------- convolution
        @reactive.calc
        def conv_input() -> np.ndarray:
            src = input.source()
            if src == "random":
                return C.random_array(
                    _int(input.rand_h(), 6, 1, 16),
                    _int(input.rand_w(), 6, 1, 16),
                    _int(input.rand_seed(), 0, 0),
                )
            size = int(input.img_size())
            if src == "upload":
                return C.to_gray(_uploaded(input.upload(), size))
            return C.to_gray(C.sample_image(src, _int(input.sample_seed(), 0, 0), size))

        @reactive.calc
        def conv_filter() -> np.ndarray:
            custom = [input[f"cw{i}"]() for i in range(9)]
            return _conv_filter(input.filter(), input.f(), _int(input.filter_seed(), 0, 0), custom)

        @reactive.calc
        def conv_res() -> C.ConvResult:
            return C.convolve(
                conv_input(), conv_filter(), _float(input.bias(), 0.0), input.pad(), input.stride()
            )

        def conv_or_none() -> tuple[C.ConvResult | None, str | None]:
            try:
                return conv_res(), None
            except _Waiting as exc:
                return None, f"note:{exc}"
            except (CnnlabError, ValueError) as exc:
                return None, str(exc)

        @reactive.calc
        def conv_win() -> C.ConvWindow | None:
            res, _ = conv_or_none()
            if res is None:
                return None
            n = res.Z.size
            k = min(max(input.window(), 1), n) - 1
            return C.conv_window(res, k)

        @reactive.effect
        def _fixed_f():  # a 3x3-only filter holds the f slider at 3
            if input.filter() in C.FIXED_3X3 and input.f() != 3:
                ui.update_slider("f", value=3)

        @reactive.effect
        def _window_range():
            res, _ = conv_or_none()
            n = 1 if res is None else res.Z.size
            with reactive.isolate():
                ui.update_slider("window", max=max(n, 1), value=min(input.window(), n))

        @render.ui
        def f_note():
            name = input.filter()
            if name in C.FIXED_3X3:
                return ui.div(f"{C.FILTERS[name]} is defined at 3 × 3, so f = 3.", class_="note")
            return None

        @render.ui
        def conv_msg():
            _, err = conv_or_none()
            if err is None:
                return None
            if err.startswith("note:"):
                return ui.div(err[5:], class_="note", id="conv_msg_text")
            return ui.HTML(H.error(err).replace("<div ", '<div id="conv_msg_text" ', 1))

        @render.ui
        def conv_in_shape():
            try:
                return _shape(conv_input(), "conv_in_shape_text")
            except (_Waiting, CnnlabError, ValueError):
                return None

        @render.ui
        def conv_input_view():
            try:
                A = conv_input()
            except (_Waiting, CnnlabError, ValueError):
                return None
            return _html(H.array_view(A, grid_id="conv_in_grid", alt="input"))

        @render.ui
        def conv_pad_shape():
            res, _ = conv_or_none()
            return None if res is None else _shape(res.A_pad, "conv_pad_shape_text")

        @render.ui
        def conv_padded():
            res, _ = conv_or_none()
            win = conv_win()
            if res is None or win is None:
                return None
            return _html(
                H.array_view(
                    res.A_pad,
                    grid_id="conv_pad_grid",
                    pad=res.pad,
                    window=(win.rows, win.cols),
                    alt="zero-padded input",
                )
            )

        @render.ui
        def conv_out_shape():
            res, _ = conv_or_none()
            return None if res is None else _shape(res.Z, "conv_out_shape_text")

        @render.ui
        def conv_output():
            res, _ = conv_or_none()
            win = conv_win()
            if res is None or win is None:
                return None
            return _html(_out_view(res.Z, (win.h, win.w)))

        def _out_view(Z: np.ndarray, cell: tuple[int, int]) -> str:
            if max(Z.shape) <= C.GRID_MAX:
                return H.grid(Z, grid_id="conv_out_grid", cell=cell)
            signed = bool(Z.min() < 0)
            return H.picture(
                Z, cell=cell, cmap="RdBu_r" if signed else "gray", symmetric=signed, alt="output"
            )

        @render.ui
        def conv_formula():
            try:
                A = conv_input()
                W = conv_filter()
            except (_Waiting, CnnlabError, ValueError):
                return None  # a bad input or filter: the message at the top of the page says why
            f, p, s = W.shape[0], input.pad(), input.stride()
            lines = []
            values = []
            for name, n_prev in (("n_H", A.shape[0]), ("n_W", A.shape[1])):
                text, v = C.output_size_formula(n_prev, f, p, s, name)
                lines.append(f"<div>{_esc.escape(text)}</div>")
                values.append(v)
            res, err = conv_or_none()
            if res is None:
                tail = H.error(err or "no output")
            elif tuple(values) != res.Z.shape:  # the formula must describe what conv_forward returned
                tail = H.error(f"formula gives {tuple(values)} but conv_forward returned {res.Z.shape}")
            else:
                tail = (
                    f'<div class="note">conv_forward returned Z of shape '
                    f'<span id="conv_shape_check">{res.Z.shape[0]} × {res.Z.shape[1]}</span>. '
                    "Windows that do not fit at the bottom or right edge are dropped.</div>"
                )
            return _html(f'<div class="formula" id="conv_formula_text">{"".join(lines)}</div>{tail}')

        @render.ui
        def conv_step():
            win = conv_win()
            res, _ = conv_or_none()
            if win is None or res is None:
                return None
            n_H, n_W = res.Z.shape
            f = res.f
            z_cell = float(res.Z[win.h, win.w])
            head = (
                f'<p class="note">Window {win.k + 1} of {n_H * n_W}: output cell '
                f"<b>Z[{win.h}, {win.w}]</b> reads rows {win.rows[0]}–{win.rows[1] - 1} and columns "
                f"{win.cols[0]}–{win.cols[1] - 1} of the padded input (start = index × stride = "
                f"{win.h}×{res.stride}, {win.w}×{res.stride}).</p>"
            )
            eq = (
                '<div class="eq-row">'
                f"<figure>{H.grid(win.a_slice, grid_id='conv_win_grid')}"
                "<figcaption>window a_slice_prev</figcaption></figure>"
                '<span class="op">⊙</span>'
                f"<figure>{H.grid(win.W, grid_id='conv_w_grid')}"
                f"<figcaption>filter W ({f}×{f})</figcaption></figure>"
                '<span class="op">=</span>'
                f"<figure>{H.grid(win.products, grid_id='conv_prod_grid')}"
                "<figcaption>products</figcaption></figure>"
                "</div>"
            )
            terms = (
                f'<div class="terms"><span id="conv_terms">{_esc.escape(C.terms_text(win))}</span> = '
                f'<b id="conv_step_sum">{C.fmt(win.z, 4)}</b></div>'
                f'<p class="note">Sum of the products plus b, by <code>conv_single_step</code>; '
                f"the same cell of <code>conv_forward</code>'s output: Z[{win.h}, {win.w}] = "
                f'<b id="conv_step_z">{C.fmt(z_cell, 4)}</b>.</p>'
            )
            return _html(head + eq + terms)

        # ---------------------------------------------------------------- pooling
        @reactive.calc
        def pool_input() -> np.ndarray:
            if input.pool_source() == "conv":
                return conv_res().Z
            return C.random_array(
                _int(input.pool_h(), 6, 1, 16), _int(input.pool_w(), 6, 1, 16), _int(input.pool_seed(), 0, 0)
            )

        @reactive.calc
        def pool_out() -> np.ndarray:
            return C.pool(pool_input(), input.pool_f(), input.pool_stride(), input.pool_mode())

        def pool_or_none() -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
            try:
                return pool_input(), pool_out(), None
            except _Waiting as exc:
                return None, None, f"The Convolution tab has no output yet: {exc}"
            except (CnnlabError, ValueError) as exc:
                return None, None, str(exc)

        @reactive.calc
        def pool_cell() -> C.PoolCell | None:
            A, Z, _ = pool_or_none()
            if Z is None:
                return None
            n_W = Z.shape[1]
            k = min(max(input.pool_cell(), 1), Z.size) - 1
            h, w = divmod(k, n_W)
            return C.pool_cell(
                A,
                input.pool_f(),
                input.pool_stride(),
                input.pool_mode(),
                h,
                w,
                _float(input.pool_grad(), 1.0),
            )

        @reactive.effect
        def _pool_range():
            _, Z, _ = pool_or_none()
            n = 1 if Z is None else Z.size
            with reactive.isolate():
                ui.update_slider("pool_cell", max=max(n, 1), value=min(input.pool_cell(), n))

        @render.ui
        def pool_msg():
            _, _, err = pool_or_none()
            return (
                None if err is None else _html(H.error(err).replace("<div ", '<div id="pool_msg_text" ', 1))
            )

        @render.ui
        def pool_in_shape():
            A, _, _ = pool_or_none()
            return None if A is None else _shape(A, "pool_in_shape_text")

        @render.ui
        def pool_out_shape():
            _, Z, _ = pool_or_none()
            return None if Z is None else _shape(Z, "pool_out_shape_text")

        @render.ui
        def pool_input_view():
            A, _, _ = pool_or_none()
            cell = pool_cell()
            if A is None or cell is None:
                return None
            return _html(
                H.array_view(A, grid_id="pool_in_grid", window=(cell.rows, cell.cols), alt="pool input")
            )

        @render.ui
        def pool_output():
            _, Z, _ = pool_or_none()
            cell = pool_cell()
            if Z is None or cell is None:
                return None
            return _html(H.array_view(Z, grid_id="pool_out_grid", cell=(cell.h, cell.w), alt="pool output"))

        @render.ui
        def pool_formula():
            A, Z, _ = pool_or_none()
            if Z is None:
                return None
            f, s = input.pool_f(), input.pool_stride()
            lines = [
                C.output_size_formula(n, f, None, s, name)[0]
                for name, n in (("n_H", A.shape[0]), ("n_W", A.shape[1]))
            ]
            return _html(
                '<div class="formula note">'
                + "".join(f"<div>{_esc.escape(t)}</div>" for t in lines)
                + "<div>(pooling has no padding)</div></div>"
            )

        @render.ui
        def pool_backward():
            cell = pool_cell()
            if cell is None:
                return None
            mode = input.pool_mode()
            f = cell.window.shape[0]
            if mode == "max":
                how = (
                    f"<code>create_mask_from_window(window)</code> marks the maximum (the first one in "
                    "row-major order on ties, as PyTorch); the gradient "
                    f"dA = {C.fmt(cell.grad)} flows only there."
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
                f'<b id="pool_cell_value">{C.fmt(cell.value, 4)}</b>. Backward: {how}</p>'
            )
            eq = (
                '<div class="eq-row">'
                f"<figure>{H.grid(cell.window, grid_id='pool_win_grid')}"
                "<figcaption>window</figcaption></figure>"
                '<span class="op">→</span>'
                f"<figure>{H.grid(cell.local, grid_id='pool_local_grid')}"
                f"<figcaption>{cap}</figcaption></figure>"
                '<span class="op">→</span>'
                "<figure>"
                f"{H.array_view(cell.dA_prev, grid_id='pool_dprev_grid', window=(cell.rows, cell.cols))}"
                "<figcaption>dA_prev = pool_backward(dA that is 0 except at this cell)</figcaption></figure>"
                "</div>"
            )
            return _html(head + eq)

        # ---------------------------------------------------------------- model
        if predictor is None:
            return

        @reactive.calc
        def m_image() -> np.ndarray:
            size = int(predictor.image_size)
            if input.m_source() == "upload":
                return _uploaded(input.m_upload(), size)
            return C.sample_image(input.m_source(), _int(input.m_seed(), 0, 0), size)

        def m_or_none() -> tuple[np.ndarray | None, str | None]:
            try:
                return m_image(), None
            except _Waiting as exc:
                return None, f"note:{exc}"
            except (CnnlabError, ValueError) as exc:
                return None, str(exc)

        @render.ui
        def model_msg():
            _, err = m_or_none()
            if err is None:
                return None
            if err.startswith("note:"):
                return ui.div(err[5:], class_="note")
            return _html(H.error(err).replace("<div ", '<div id="model_msg_text" ', 1))

        @render.ui
        def model_curves():
            from cnnlab.explore.figures import curves_figure
            from cnnlab.runs import RunDir

            rows = RunDir(run_dir).metrics()
            if not rows:
                return ui.div("This run has no metrics.csv rows yet.", class_="note")
            return _html(H.img_tag(curves_figure(rows), alt="training curves"))

        @render.ui
        def model_proba():
            img, _ = m_or_none()
            if img is None:
                return None
            from cnnlab.explore.figures import proba_table

            p = predictor.predict_proba(img[None])[0]
            pic = H.picture(img, width_px=160, alt="picture", colorbar=False)
            return _html(
                f'<div style="display:flex;gap:16px;align-items:center">{pic}'
                f"{proba_table(list(predictor.classes), p)}</div>"
            )

        @render.ui
        def model_maps():
            img, _ = m_or_none()
            if img is None:
                return None
            from cnnlab.explore.figures import feature_maps_figure

            maps = predictor.feature_maps(img)
            if not maps:
                return ui.div("This model has no conv layers.", class_="note")
            return _html(H.img_tag(feature_maps_figure(maps, input.m_channels()), alt="feature maps"))

    return server


def create_app(run_dir: str | os.PathLike | None = None) -> App:
    """The explorer as a :class:`shiny.App`; with ``run_dir`` (a ``cnnlab train`` run) the Model tab shows it.

    Raises :class:`cnnlab.errors.RunDirError` when ``run_dir`` is not a run directory.
    """
    predictor = None
    label = ""
    if run_dir is not None:
        from cnnlab.runs import RunDir
        from cnnlab.runs.predictor import load_predictor

        run = RunDir.open(run_dir)
        predictor = load_predictor(run)
        label = Path(run_dir).name
    return App(app_ui(predictor is not None, label), make_server(run_dir, predictor))


# -- serving --------------------------------------------------------------------------------------------
class UploadLimit:
    """ASGI middleware: refuse upload POSTs (``/session/<id>/upload/<job>``) above ``max_bytes``.

    Shiny itself has no size limit on uploads; this rejects a request whose ``Content-Length`` is too large
    (or missing) with 413 before any of it is stored, and stops one that sends more than it declared.
    """

    def __init__(self, app: Any, max_bytes: int = C.MAX_UPLOAD_BYTES + 64 * 1024):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or "/upload/" not in scope.get("path", "")
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        try:
            declared = int(headers.get(b"content-length", b""))
        except ValueError:
            declared = -1
        if declared < 0 or declared > self.max_bytes:
            body = f"uploads are limited to {C.MAX_UPLOAD_BYTES // 2**20} MB".encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [
                        (b"content-type", b"text/plain"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > declared:
                    raise ValueError("upload larger than its Content-Length")
            return message

        await self.app(scope, counted, send)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``port`` 0: any free port); :class:`CnnlabError` if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CnnlabError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(host: str = "127.0.0.1", port: int = 8000, run_dir: str | os.PathLike | None = None) -> None:
    """Serve the explorer on ``host:port`` until Ctrl-C; prints the URL (with the real port) first."""
    import uvicorn

    app = create_app(run_dir)
    sock = bind(host, port)
    real_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"cnnlab explore: serving on http://{shown}:{real_port}/ (Ctrl-C to stop)", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"cnnlab explore: warning: listening on {host}, reachable from other machines", file=sys.stderr)
    config = uvicorn.Config(UploadLimit(app), log_level="warning", ws_max_size=16 * 2**20)
    uvicorn.Server(config).run(sockets=[sock])
