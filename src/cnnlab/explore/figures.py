"""Matplotlib figures and tables of the Model tab: training curves, feature maps, probabilities."""

from __future__ import annotations

import html

import numpy as np

from cnnlab.explore.compute import fmt


def _figure(figsize: tuple[float, float]):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=100)


def curves_figure(rows: list[dict[str, float | None]]):
    """Loss and accuracy per epoch (train, and validation where the run has it) from ``RunDir.metrics()``."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure((7.0, 3.0))
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = [r["epoch"] for r in rows]
    for ax, key, title in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
        for split, style in (("train", "-o"), ("val", "-s")):
            pts = [(e, r.get(f"{split}_{key}")) for e, r in zip(epochs, rows, strict=True)]
            pts = [(e, v) for e, v in pts if e is not None and v is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), style, markersize=3, label=split)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    return fig


def feature_maps_figure(maps: list[tuple[str, np.ndarray]], channels: int = 8):
    """One row per conv layer: its first ``channels`` feature maps ``(h, w)`` from ``feature_maps(image)``."""
    channels = max(1, int(channels))
    n_cols = min(channels, max(m.shape[-1] for _, m in maps))
    fig = _figure((1.3 * n_cols + 1.2, 1.45 * len(maps) + 0.2))
    axes = np.atleast_2d(fig.subplots(len(maps), n_cols, squeeze=False))
    for i, (name, m) in enumerate(maps):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < m.shape[-1]:
                ax.imshow(m[:, :, j], cmap="viridis", interpolation="nearest")
                ax.set_title(f"channel {j}", fontsize=7)
            else:
                ax.axis("off")
        axes[i, 0].set_ylabel(f"{name}\n{m.shape[0]}×{m.shape[1]}×{m.shape[2]}", fontsize=8)
    fig.tight_layout()
    return fig


def proba_table(classes: list[str], proba: np.ndarray) -> str:
    """The predicted probabilities as an HTML table with bars; the most likely class in bold."""
    proba = np.asarray(proba, dtype=np.float64)
    best = int(np.argmax(proba))
    rows = []
    for k, (name, p) in enumerate(zip(classes, proba, strict=True)):
        b = ("<b>", "</b>") if k == best else ("", "")
        rows.append(
            f'<tr data-class="{html.escape(name)}"><td>{b[0]}{html.escape(name)}{b[1]}</td>'
            f'<td class="p" style="text-align:right">{b[0]}{fmt(100 * p, 1)}%{b[1]}</td>'
            f'<td class="barcell"><div class="bar" style="width:{100 * p:.1f}%"></div></td></tr>'
        )
    return (
        '<table class="proba" id="model_proba_table"><tr><th>class</th><th>p</th><th></th></tr>'
        + "".join(rows)
        + "</table>"
    )
