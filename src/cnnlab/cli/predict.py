"""``cnnlab predict``: the class and its probability for each image file, with a trained run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from cnnlab.cli.app import app
from cnnlab.cli.choices import Checkpoint


def predict_files(predictor: Any, paths: list[Path]) -> list[dict[str, Any]]:
    """Decode each file at the predictor's image size and predict it.

    Returns one dict per image: ``image``, ``class``, ``probability`` and ``probabilities`` (class ->
    probability). Raises :class:`cnnlab.errors.DataError` naming the first file that cannot be read.
    """
    from cnnlab.data import load_image
    from cnnlab.errors import DataError

    images = []
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: no such image file")
        images.append(load_image(path, predictor.image_size))
    proba = np.asarray(predictor.predict_proba(np.stack(images)), dtype=np.float64)
    classes = list(predictor.classes)
    out = []
    for path, p in zip(paths, proba, strict=True):
        k = int(np.argmax(p))
        out.append(
            {
                "image": str(path),
                "class": classes[k],
                "probability": float(p[k]),
                "probabilities": {c: float(v) for c, v in zip(classes, p, strict=True)},
            }
        )
    return out


@app.command(
    epilog="Examples:  cnnlab predict runs/cnn cat.jpg dog.png  |  cnnlab predict runs/cnn *.jpg --json"
)
def predict(
    run_dir: Annotated[
        Path,
        typer.Argument(metavar="RUN_DIR", help="A run directory made by `cnnlab train`.", show_default=False),
    ],
    images: Annotated[
        list[Path],
        typer.Argument(metavar="IMAGE...", help="Image files (JPEG, PNG, ...).", show_default=False),
    ],
    checkpoint: Annotated[Checkpoint, typer.Option(help="Which weights of the run.")] = Checkpoint.best,
    as_json: Annotated[bool, typer.Option("--json", help="Print the predictions as JSON.")] = False,
) -> None:
    """Predict the class of each image with a trained run: class and probability per image."""
    from cnnlab.runs import RunDir
    from cnnlab.runs.predictor import load_predictor

    run = RunDir.open(run_dir)
    predictor = load_predictor(run, checkpoint.value)
    results = predict_files(predictor, list(images))
    if as_json:
        print(json.dumps(results, indent=2))
        return
    width = max(5, *(len(r["image"]) for r in results))
    cwidth = max(5, *(len(c) for c in predictor.classes))
    print(f"{'image':<{width}}  {'class':<{cwidth}}  probability")
    for r in results:
        print(f"{r['image']:<{width}}  {r['class']:<{cwidth}}  {r['probability']:11.4f}")
