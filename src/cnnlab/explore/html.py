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
.proba td, .proba th { padding: 2px 8px; }
.bar { background: #4c6ef5; height: 12px; border-radius: 3px; }
.proba td.barcell { width: 180px; min-width: 140px; }
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
) -> str:
    """``arr (n_H, n_W)`` as an HTML table of numbers.

    ``pad``: the outer ``pad`` rows and columns are padding (grey). ``window``: ``((r0, r1), (c0, c1))``
    half-open ranges framed as the current window. ``cell``: one ``(r, c)`` framed as the current output.
    """
    arr = np.asarray(arr, dtype=np.float64)
    n_H, n_W = arr.shape
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


def error(message: str) -> str:
    """A message shown in the page instead of a result."""
    return f'<div class="msg-error" role="alert">{html.escape(message)}</div>'


def read_grid(rows: list[list[str]]) -> np.ndarray:
    """The numbers of a grid read back from the page's cell texts (``rows`` of strings)."""
    from cnnlab.explore.compute import parse_number

    return np.array([[parse_number(t) for t in row] for row in rows], dtype=np.float64)
