"""The Shiny app behind ``cnnlab explore``: one module per tab, wired together here.

Tabs (one file each): :mod:`~cnnlab.explore.conv_tab` (Convolution), :mod:`~cnnlab.explore.backward_tab`
(Conv backward, on the Convolution tab's layer and cell), :mod:`~cnnlab.explore.pool_tab` (Pooling) and
:mod:`~cnnlab.explore.model_tab` (Model, with ``--run``). Every number comes from
:mod:`cnnlab.explore.compute` (that is, :mod:`cnnlab.ops`) or from the run's own predictor and backend;
every control's value is checked against :mod:`cnnlab.explore.bounds` on the server.
``create_app(run_dir=None)`` builds the :class:`shiny.App`; :mod:`cnnlab.explore.serve` (which imports
this module, never the reverse) serves it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from shiny import App, ui

from cnnlab.explore import backward_tab, conv_tab, model_tab, pool_tab
from cnnlab.explore import html as H

#: The module ids of the tabs (each control's id in the page is ``"<tab>-<name>"``, e.g. ``conv-pad``).
CONV, BACKWARD, POOL, MODEL = "conv", "bwd", "pool", "model"


def app_ui(has_run: bool, run_label: str = "") -> ui.Tag:
    """The page: a navbar with the four tabs."""
    return ui.page_navbar(
        ui.nav_panel("Convolution", ui.layout_sidebar(conv_tab.sidebar(CONV), conv_tab.main(CONV))),
        ui.nav_panel("Conv backward", backward_tab.panel(BACKWARD)),
        ui.nav_panel("Pooling", pool_tab.panel(POOL)),
        ui.nav_panel("Model", model_tab.panel(MODEL) if has_run else model_tab.no_run_panel()),
        title="cnnlab explore",
        id="tab",
        header=ui.head_content(ui.tags.style(H.CSS), ui.tags.script(H.LINK_JS)),
        window_title="cnnlab explore" + (f" — {run_label}" if run_label else ""),
    )


def make_server(run: Any = None, predictor: Any = None):
    """The server function: each tab's module server, the Convolution tab's state shared with the others."""

    cache: dict = {}  # what every session may share: the run's test split and its predictions

    def server(input: Any, output: Any, session: Any) -> None:
        conv = conv_tab.server(CONV)
        backward_tab.server(BACKWARD, conv=conv)
        pool_tab.server(POOL, conv=conv)
        if predictor is not None:
            model_tab.server(MODEL, run=run, predictor=predictor, cache=cache)

    return server


def create_app(run_dir: str | os.PathLike | None = None) -> App:
    """The explorer as a :class:`shiny.App`; with ``run_dir`` (a ``cnnlab train`` run) the Model tab shows it.

    Raises :class:`cnnlab.errors.RunDirError` when ``run_dir`` is not a run directory.
    """
    run = predictor = None
    label = ""
    if run_dir is not None:
        from cnnlab.runs import RunDir
        from cnnlab.runs.predictor import load_predictor

        run = RunDir.open(run_dir)
        predictor = load_predictor(run)
        model_tab.set_classes(list(predictor.classes))
        label = Path(run_dir).name
    return App(app_ui(predictor is not None, label), make_server(run, predictor))
