"""HTML for the explorer: small arrays as numeric grids, larger ones as pictures (plain strings, no Shiny).

A grid is a ``<table class="numgrid">`` whose cells carry ``data-r`` / ``data-c`` and the number as text, so
a student can read it and a browser test can read it back. Cells are tinted by value (blue for positive,
red for negative, relative to the largest magnitude in the array); padding cells are grey; the current
window has an orange frame.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np

from cnnlab.explore.compute import GRID_MAX, fmt

CSS = """
.numgrid { border-collapse: collapse; font-family: ui-monospace, SFMono-Regular, Menlo, monospace;
        font-size: 12px; margin: 2px 0; }
.numgrid td { border: 1px solid #d0d7de; min-width: 26px; height: 24px; padding: 0 4px; text-align: right; }
.numgrid td.pad { color: #8c959f; background: #f3f4f6 !important; font-style: italic; }
.numgrid td.win { font-weight: 700; }
.numgrid td.cell { font-weight: 700; }
.grid-scroll { overflow: auto; max-width: 100%; }
.eq-row { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; }
.eq-row .op { font-size: 22px; color: #57606a; }
.eq-row figure { margin: 0; }
.eq-row figcaption { font-size: 12px; color: #57606a; text-align: center; }
.terms { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; line-height: 1.7;
         background: #f6f8fa; border-radius: 6px; padding: 6px 10px; word-break: break-word; }
.formula { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; line-height: 1.8; }
.note { color: #57606a; font-size: 13px; }
.msg-error { color: #b42318; background: #fef3f2; border: 1px solid #fda29b; border-radius: 6px;
             padding: 6px 10px; }
.shape { font-weight: 400; color: #57606a; font-size: 0.9em; }
.proba { width: 100%; table-layout: fixed; }
.proba td, .proba th { padding: 2px 8px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.proba th.c-name { width: 26%; } .proba th.c-num { width: 18%; } .proba th.c-bar { width: 20%; }
.proba td.logit, .proba td.sm, .proba td.p { text-align: right; font-variant-numeric: tabular-nums; }
.bar { background: #4c6ef5; height: 12px; border-radius: 3px; max-width: 100%; }
.numgrid td.hl { outline: 2px solid #12b886; outline-offset: -2px; }
.numgrid td.sel { outline: 3px solid #f08c00; outline-offset: -3px; }
.map { display: inline-block; position: relative; vertical-align: top; margin: 0 8px 6px 0; }
.map .cap { font-size: 12px; color: #57606a; text-align: center; }
.map .pix { position: relative; display: inline-block; line-height: 0; cursor: crosshair; }
.map .pix img { image-rendering: pixelated; display: block; }
.map .box { position: absolute; pointer-events: none; box-sizing: border-box; }
.map .box.sel { border: 2px solid #f08c00; }
.map .box.hl { border: 2px solid #12b886; }
.maps-row { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 4px; }
.linked td { cursor: pointer; }
.cbar { display: inline-flex; align-items: center; gap: 6px; font-size: 12px; color: #57606a; }
.cbar .ramp { width: 160px; height: 10px; border: 1px solid #d0d7de; border-radius: 2px; }
.eqn { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; line-height: 1.8;
       background: #f6f8fa; border-radius: 6px; padding: 6px 10px; margin: 6px 0; word-break: break-word; }
.bad { color: #b42318; font-weight: 700; }
.fmaps img.fm { cursor: pointer; border: 2px solid #fff; outline: 1px solid #d0d7de; margin: 1px;
                image-rendering: pixelated; }
.fmaps img.fm.sel { border-color: #f08c00; }
.fmaps .layer { margin-bottom: 8px; }
.anim-row { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
.anim-row .form-group { margin-bottom: 0; }
.vol-row { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.vol-h { font-size: 12px; font-weight: 600; color: #57606a; margin-bottom: 4px; }
.wtable th { font-size: 11px; font-weight: 600; color: #57606a; padding: 0 4px; text-align: center; }
.wtable td { padding: 2px 4px; vertical-align: top; }
.wtable td.selw { background: #fff4e6; }
.mpic { width: 160px; image-rendering: pixelated; border-radius: 4px; }
.pred-row { display: flex; gap: 16px; align-items: flex-start; flex-wrap: wrap; }
.pred-row figure { margin: 0; max-width: 180px; } .pred-row figcaption { font-size: 12px; color: #57606a; }
.pred-table { flex: 1 1 100%; min-width: 0; }
.testpick { max-height: 230px; overflow-y: auto; }
"""


#: Inset shadows drawing the top, bottom, left and right edge of a framed cell.
_EDGES = tuple(
    f"inset {x} {y} 0 0 #f08c00" for x, y in (("0", "3px"), ("0", "-3px"), ("3px", "0"), ("-3px", "0"))
)


def _tint(x: float, scale: float) -> str:
    if scale == 0 or x == 0 or not np.isfinite(x):
        return ""
    a = min(abs(x) / scale, 1.0) * 0.55
    rgb = "76,110,245" if x > 0 else "240,62,62"
    return f"background: rgba({rgb},{a:.3f});"


def grid(
    arr: np.ndarray,
    *,
    pad: int = 0,
    window: tuple[tuple[int, int], tuple[int, int]] | None = None,
    cell: tuple[int, int] | None = None,
    grid_id: str | None = None,
    digits: int = 3,
    scale: float | None = None,
) -> str:
    """``arr (n_H, n_W)`` as an HTML table of numbers.

    ``pad``: the outer ``pad`` rows and columns are padding (grey). ``window``: ``((r0, r1), (c0, c1))``
    half-open ranges framed as the current window. ``cell``: one ``(r, c)`` framed as the current output.
    ``scale``: the magnitude tinted darkest (default: the largest in ``arr``; pass one to share it).
    """
    arr = np.asarray(arr, dtype=np.float64)
    n_H, n_W = arr.shape
    if scale is None:
        finite = arr[np.isfinite(arr)]
        scale = float(np.max(np.abs(finite))) if finite.size else 0.0
    rows = []
    for r in range(n_H):
        tds = []
        for c in range(n_W):
            cls = []
            if pad and (r < pad or r >= n_H - pad or c < pad or c >= n_W - pad):
                cls.append("pad")
            edges = []
            if window and window[0][0] <= r < window[0][1] and window[1][0] <= c < window[1][1]:
                cls.append("win")
                (r0, r1), (c0, c1) = window
                edges = [
                    e
                    for e, on in zip(_EDGES, (r == r0, r == r1 - 1, c == c0, c == c1 - 1), strict=True)
                    if on
                ]
            if cell == (r, c):
                cls.append("cell")
                edges = list(_EDGES)
            attr = f' class="{" ".join(cls)}"' if cls else ""
            style = _tint(arr[r, c], scale) + (f"box-shadow: {', '.join(edges)};" if edges else "")
            tds.append(f'<td data-r="{r}" data-c="{c}"{attr} style="{style}">{fmt(arr[r, c], digits)}</td>')
        rows.append("<tr>" + "".join(tds) + "</tr>")
    gid = f' id="{html.escape(grid_id)}"' if grid_id else ""
    return f'<div class="grid-scroll"><table class="numgrid"{gid}>' + "".join(rows) + "</table></div>"


def picture(
    arr: np.ndarray,
    *,
    pad: int = 0,
    window: tuple[tuple[int, int], tuple[int, int]] | None = None,
    cell: tuple[int, int] | None = None,
    cmap: str = "gray",
    width_px: int = 300,
    alt: str = "",
    colorbar: bool = True,
    symmetric: bool = False,
) -> str:
    """``arr (n_H, n_W)`` (or an ``(H, W, 3)`` uint8 picture) as an inline PNG ``<img>``, with the padding
    border dashed, the current window or output cell framed in orange; ``symmetric`` centres the colour
    scale on 0 (white in a diverging colour map)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    arr = np.asarray(arr)
    fig = Figure(figsize=(3.4, 3.0), dpi=100)
    ax = fig.add_subplot()
    if arr.ndim == 3:
        im = ax.imshow(arr, interpolation="nearest")
        colorbar = False
    else:
        m = float(np.max(np.abs(arr))) if symmetric and arr.size else None
        im = ax.imshow(arr, cmap=cmap, interpolation="nearest", vmin=-m if m else None, vmax=m or None)
    n_H, n_W = arr.shape[:2]
    if pad:
        ax.add_patch(
            Rectangle(
                (pad - 0.5, pad - 0.5),
                n_W - 2 * pad,
                n_H - 2 * pad,
                fill=False,
                edgecolor="#4c6ef5",
                linestyle="--",
                linewidth=1,
            )
        )
    if window:
        (r0, r1), (c0, c1) = window
        ax.add_patch(
            Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, edgecolor="#f08c00", linewidth=2)
        )
    if cell:
        r, c = cell
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="#f08c00", linewidth=2))
    ax.set_xticks([])
    ax.set_yticks([])
    if colorbar:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return img_tag(fig, width_px=width_px, alt=alt)


def img_tag(fig, *, width_px: int | None = None, alt: str = "") -> str:
    """A matplotlib ``Figure`` as an inline PNG ``<img>``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    width = f' style="width:{width_px}px;max-width:100%"' if width_px else ' style="max-width:100%"'
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"{width}>'


def array_view(arr: np.ndarray, *, grid_id: str | None = None, alt: str = "", **marks) -> str:
    """A grid of numbers when ``arr`` has at most :data:`GRID_MAX` rows and columns, else a picture."""
    if max(np.shape(arr)[:2]) <= GRID_MAX and np.ndim(arr) == 2:
        return grid(arr, grid_id=grid_id, **marks)
    return picture(arr, alt=alt, **marks)


# -- colour maps, pixel maps, linked views ----------------------------------------------------------------
#: Endpoints of the colour maps: diverging (red for negative, white at 0, blue for positive, as the grid
#: tints) and sequential (white to dark blue, for maps that are never negative).
_NEG, _MID, _POS = np.array([240, 62, 62]), np.array([255, 255, 255]), np.array([54, 79, 199])
_GRAY0, _GRAY1 = np.array([0, 0, 0]), np.array([255, 255, 255])


def colorize(arr: np.ndarray, lo: float, hi: float, kind: str = "diverging") -> np.ndarray:
    """``arr (n_H, n_W)`` -> ``(n_H, n_W, 3)`` uint8 on the colour scale ``[lo, hi]``.

    ``diverging``: ``-m .. 0 .. m`` red, white, blue with ``m = max(|lo|, |hi|)``; ``gray``: ``lo`` black
    to ``hi`` white; ``sequential``: ``lo`` white to ``hi`` blue.
    """
    a = np.nan_to_num(np.asarray(arr, dtype=np.float64))
    if kind == "diverging":
        m = max(abs(lo), abs(hi)) or 1.0
        t = np.clip(a / m, -1, 1)[..., None]
        rgb = np.where(t >= 0, _MID + (_POS - _MID) * t, _MID + (_NEG - _MID) * -t)
    else:
        span = (hi - lo) or 1.0
        t = np.clip((a - lo) / span, 0, 1)[..., None]
        start, end = (_GRAY0, _GRAY1) if kind == "gray" else (_MID, _POS)
        rgb = start + (end - start) * t
    return np.rint(rgb).astype(np.uint8)


def png_data_url(rgb: np.ndarray) -> str:
    """``(H, W, 3)`` uint8 as a ``data:image/png;base64,...`` URL (no scaling: the page scales it)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def colorbar(lo: float, hi: float, kind: str = "diverging", label: str = "") -> str:
    """A colour bar for :func:`colorize`'s scale ``[lo, hi]``: a ramp between its end values."""
    if kind == "diverging":
        m = max(abs(lo), abs(hi))
        lo, hi = -m, m
        ramp = "linear-gradient(to right, rgb(240,62,62), white, rgb(54,79,199))"
    elif kind == "gray":
        ramp = "linear-gradient(to right, black, white)"
    else:
        ramp = "linear-gradient(to right, white, rgb(54,79,199))"
    lab = f"<span>{html.escape(label)}</span>" if label else ""
    return (
        f'<span class="cbar">{lab}<span class="lo">{fmt(lo, 3)}</span>'
        f'<span class="ramp" style="background:{ramp}"></span><span class="hi">{fmt(hi, 3)}</span></span>'
    )


def map_view(
    arr: np.ndarray,
    *,
    map_id: str,
    role: str,
    channel: int = 0,
    caption: str = "",
    pad: int = 0,
    scale: tuple[float, float] | None = None,
    kind: str = "diverging",
    window: tuple[tuple[int, int], tuple[int, int]] | None = None,
    cell: tuple[int, int] | None = None,
    width_px: int = 200,
    offset: int = 0,
) -> str:
    """One 2-D map ``arr (n_H, n_W)`` of a linked view: a grid of numbers (up to :data:`GRID_MAX` a side)
    or a pixel picture, inside ``<div class="map" data-role=role data-ch=channel data-nh data-nw>``.

    ``role``: ``"in"`` (an input, in padded coordinates) or ``"out"`` (an output); the page's script
    links the two through the geometry on the enclosing :func:`linked` block. ``window`` / ``cell`` are
    marked as the current selection (orange). ``scale``: the colour scale shared with the other maps.
    ``offset``: an input map that is not padded (``dA_prev``) sits at ``offset = pad`` in padded
    coordinates.
    """
    arr = np.asarray(arr, dtype=np.float64)
    n_H, n_W = arr.shape
    if scale is None:
        finite = arr[np.isfinite(arr)]
        scale = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    attrs = (
        f'class="map" id="{html.escape(map_id)}" data-role="{role}" data-ch="{channel}" '
        f'data-nh="{n_H}" data-nw="{n_W}" data-off="{offset}"'
    )
    cap = f'<div class="cap">{html.escape(caption)}</div>' if caption else ""
    sel = window
    if sel is None and cell is not None:
        sel = ((cell[0], cell[0] + 1), (cell[1], cell[1] + 1))
    if max(n_H, n_W) <= GRID_MAX:
        magnitude = max(abs(scale[0]), abs(scale[1]))
        body = grid(arr, pad=pad, window=sel, grid_id=f"{map_id}_grid", scale=magnitude)
        return f"<div {attrs}>{body}{cap}</div>"
    url = png_data_url(colorize(arr, scale[0], scale[1], kind))
    box = ""
    if sel is not None:
        (r0, r1), (c0, c1) = sel
        box = (
            f'<div class="box sel" style="left:{100 * c0 / n_W:.3f}%;top:{100 * r0 / n_H:.3f}%;'
            f'width:{100 * (c1 - c0) / n_W:.3f}%;height:{100 * (r1 - r0) / n_H:.3f}%"></div>'
        )
    pad_box = ""
    if pad:
        pad_box = (
            f'<div class="box" style="border:1px dashed #4c6ef5;left:{100 * pad / n_W:.3f}%;'
            f"top:{100 * pad / n_H:.3f}%;width:{100 * (n_W - 2 * pad) / n_W:.3f}%;"
            f'height:{100 * (n_H - 2 * pad) / n_H:.3f}%"></div>'
        )
    img = f'<img alt="{html.escape(caption or map_id)}" src="{url}" style="width:{width_px}px">'
    return f'<div {attrs}><div class="pix">{img}{pad_box}{box}</div>{cap}</div>'


def linked(body: str, *, group: str, input_id: str, f: int, stride: int, block_id: str = "") -> str:
    """A block of linked maps: hovering an output cell outlines its window in every input map (and the
    reverse), clicking one sends ``{h, w, c}`` to the Shiny input ``input_id`` (see :data:`LINK_JS`).

    ``f``, ``stride``: the window geometry (input maps are in padded coordinates)."""
    bid = f' id="{html.escape(block_id)}"' if block_id else ""
    return (
        f'<div class="linked"{bid} data-group="{html.escape(group)}" data-input="{html.escape(input_id)}" '
        f'data-f="{f}" data-stride="{stride}">{body}</div>'
    )


#: The page's script for :func:`linked` blocks (event delegation, so it survives re-renders).
LINK_JS = """
(function () {
  function pos(el, ev) {  // [row, col] of a grid cell or of a point on a pixel map
    var td = ev.target.closest('td[data-r]');
    if (td) return [+td.dataset.r, +td.dataset.c];
    var pix = ev.target.closest('.pix');
    if (!pix) return null;
    var r = pix.getBoundingClientRect();
    var nh = +el.dataset.nh, nw = +el.dataset.nw;
    return [Math.min(nh - 1, Math.floor((ev.clientY - r.top) / r.height * nh)),
            Math.min(nw - 1, Math.floor((ev.clientX - r.left) / r.width * nw))];
  }
  function clear(block) {
    block.querySelectorAll('td.hl').forEach(function (td) { td.classList.remove('hl'); });
    block.querySelectorAll('.box.hl').forEach(function (b) { b.remove(); });
  }
  function mark(map, r0, r1, c0, c1) {  // outline rows [r0, r1) and columns [c0, c1) of one map
    var nh = +map.dataset.nh, nw = +map.dataset.nw;
    r0 = Math.max(r0, 0); c0 = Math.max(c0, 0); r1 = Math.min(r1, nh); c1 = Math.min(c1, nw);
    if (r1 <= r0 || c1 <= c0) return;
    var pix = map.querySelector('.pix');
    if (pix) {
      var b = document.createElement('div');
      b.className = 'box hl';
      b.style.left = (100 * c0 / nw) + '%'; b.style.top = (100 * r0 / nh) + '%';
      b.style.width = (100 * (c1 - c0) / nw) + '%'; b.style.height = (100 * (r1 - r0) / nh) + '%';
      pix.appendChild(b);
      return;
    }
    map.querySelectorAll('td[data-r]').forEach(function (td) {
      var r = +td.dataset.r, c = +td.dataset.c;
      if (r >= r0 && r < r1 && c >= c0 && c < c1) td.classList.add('hl');
    });
  }
  function outRange(p, f, s, n) {  // output indices whose window covers padded index p
    return [Math.max(0, Math.ceil((p - f + 1) / s)), Math.min(n - 1, Math.floor(p / s))];
  }
  function link(block, map, p) {
    var f = +block.dataset.f, s = +block.dataset.stride;
    clear(block);
    if (map.dataset.role === 'out') {
      block.querySelectorAll('.map[data-role=in]').forEach(function (m) {
        var o = +m.dataset.off;
        mark(m, p[0] * s - o, p[0] * s + f - o, p[1] * s - o, p[1] * s + f - o);
      });
      mark(map, p[0], p[0] + 1, p[1], p[1] + 1);
    } else {
      var o = +map.dataset.off;
      block.querySelectorAll('.map[data-role=out]').forEach(function (m) {
        var hr = outRange(p[0] + o, f, s, +m.dataset.nh), wr = outRange(p[1] + o, f, s, +m.dataset.nw);
        mark(m, hr[0], hr[1] + 1, wr[0], wr[1] + 1);
      });
      mark(map, p[0], p[0] + 1, p[1], p[1] + 1);
    }
  }
  document.addEventListener('mouseover', function (ev) {
    var map = ev.target.closest && ev.target.closest('.linked .map');
    if (!map) return;
    var p = pos(map, ev);
    if (p) link(map.closest('.linked'), map, p);
  });
  document.addEventListener('mousemove', function (ev) {
    var map = ev.target.closest && ev.target.closest('.linked .map');
    if (!map || !ev.target.closest('.pix')) return;
    var p = pos(map, ev);
    if (p) link(map.closest('.linked'), map, p);
  });
  document.addEventListener('mouseout', function (ev) {
    var block = ev.target.closest && ev.target.closest('.linked');
    if (block && !(ev.relatedTarget && block.contains(ev.relatedTarget))) clear(block);
  });
  document.addEventListener('click', function (ev) {
    var map = ev.target.closest && ev.target.closest('.linked .map');
    if (!map) return;
    var p = pos(map, ev), block = map.closest('.linked');
    if (!p) return;
    var f = +block.dataset.f, s = +block.dataset.stride, h = p[0], w = p[1];
    if (map.dataset.role === 'in') {  // the first window (row-major) that covers this input cell
      var out = block.querySelector('.map[data-role=out]');
      if (!out) return;
      var o = +map.dataset.off;
      var hr = outRange(p[0] + o, f, s, +out.dataset.nh), wr = outRange(p[1] + o, f, s, +out.dataset.nw);
      if (hr[0] > hr[1] || wr[0] > wr[1]) return;  // no window reads it
      h = hr[0]; w = wr[0];
    }
    var c = map.dataset.role === 'out' ? +map.dataset.ch : null;  // an input cell keeps the filter
    Shiny.setInputValue(block.dataset.input, {h: h, w: w, c: c}, {priority: 'event'});
  });
  document.addEventListener('click', function (ev) {  // feature maps of the Model tab
    var img = ev.target.closest && ev.target.closest('img.fm');
    if (!img) return;
    Shiny.setInputValue(img.dataset.input, {layer: +img.dataset.layer, ch: +img.dataset.ch},
                        {priority: 'event'});
  });
})();
"""


def error(message: str) -> str:
    """A message shown in the page instead of a result."""
    return f'<div class="msg-error" role="alert">{html.escape(message)}</div>'


def read_grid(rows: list[list[str]]) -> np.ndarray:
    """The numbers of a grid read back from the page's cell texts (``rows`` of strings)."""
    from cnnlab.explore.compute import parse_number

    return np.array([[parse_number(t) for t in row] for row in rows], dtype=np.float64)
