"""``cnnlab summary``: the layer table of a model (output shapes, parameters, mult-adds)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cnnlab.cli.app import app
from cnnlab.cli.choices import Backend, Model


@app.command(epilog="Examples:  cnnlab summary  |  cnnlab summary --model simple --backend torch --json")
def summary(
    model: Annotated[
        Model, typer.Option(help="The lab's exercise-8 model or its CNNClassifier.")
    ] = Model.cnn,
    backend: Annotated[
        Backend, typer.Option(help="Which framework builds it (the numbers agree).")
    ] = Backend.numpy,
    image_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Side of the square input images. Default: 16 for simple, 64 for cnn.",
            show_default=False,
        ),
    ] = None,
    num_classes: Annotated[int, typer.Option(min=2, help="Outputs of the last layer.")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print the layers as JSON.")] = False,
) -> None:
    """Print a model's layer table: output shape, parameters and mult-adds per layer, with totals."""
    from cnnlab.architectures import get_architecture, output_shapes
    from cnnlab.errors import CnnlabError
    from cnnlab.runs.summary import layer_rows, layer_table

    size = image_size
    if size is not None:
        try:  # a clear message before either backend builds anything
            output_shapes(get_architecture(model.value, num_classes), size)
        except ValueError as exc:
            raise CnnlabError(f"--image-size {size}: {exc}") from None
    if as_json:
        rows = layer_rows(model.value, backend.value, size, num_classes)
        total = sum(r["params"] for r in rows)
        print(
            json.dumps(
                {"model": model.value, "backend": backend.value, "layers": rows, "total_params": total},
                indent=2,
            )
        )
    else:
        print(layer_table(model.value, backend.value, size, num_classes), end="")
