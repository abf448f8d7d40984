"""``cnnlab explore``: serve the web explorer of convolution, pooling and a trained model."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from cnnlab.cli.app import app


@app.command(
    "explore",
    epilog="Examples:  cnnlab explore  |  cnnlab explore --run runs/cnn --port 8080",
)
def explore(
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free port).")] = 8000,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; the default is this machine only.")
    ] = ("127.0.0.1"),
    run: Annotated[
        Path | None, typer.Option("--run", help="A run directory from `cnnlab train`, for the Model tab.")
    ] = None,
) -> None:
    """Open an interactive explorer of convolution, pooling and (with --run) a trained model."""
    from cnnlab.errors import CnnlabError, require

    if not 0 <= port <= 65535:
        raise CnnlabError(f"--port must be between 0 and 65535, got {port}")
    if run is not None:
        from cnnlab.runs import RunDir

        RunDir.open(run)  # one clear line when it is not a run directory, before importing Shiny
    require("shiny", "web")
    require("uvicorn", "web")
    from cnnlab.explore.serve import serve

    with contextlib.suppress(KeyboardInterrupt):
        serve(host=host, port=port, run_dir=run)
