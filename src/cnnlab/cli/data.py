"""``cnnlab data``: write the built-in dataset to a folder, or inspect an image folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cnnlab.cli.app import app

data_app = typer.Typer(no_args_is_help=True, add_completion=False)
app.add_typer(
    data_app,
    name="data",
    help="Image folders: write the built-in cats-vs-dogs dataset, or inspect a folder before training.",
)


@data_app.command(epilog="Example:  cnnlab data synth data/builtin --seed 7")
def synth(
    directory: Annotated[Path, typer.Argument(help="New (or empty) folder to write train/ and test/ into.")],
    seed: Annotated[int, typer.Option(help="Seed of the generator; the built-in dataset uses 2023.")] = 2023,
    size: Annotated[int, typer.Option(min=8, help="Side of the square images in pixels.")] = 64,
    train: Annotated[int, typer.Option(min=1, help="Training images per class.")] = 400,
    test: Annotated[int, typer.Option(min=1, help="Test images per class.")] = 100,
) -> None:
    """Write the built-in procedural cats-vs-dogs dataset as PNGs in DIRECTORY/{train,test}/{cats,dogs}."""
    import time

    from cnnlab.data.synth import write_dataset

    t0 = time.perf_counter()
    write_dataset(directory, seed=seed, counts={"train": train, "test": test}, size=size)
    total = 2 * (train + test)
    typer.echo(
        f"wrote {total} images of {size}x{size} (train {train} + test {test} per class: cats, dogs;"
        f" seed {seed}) to {directory} in {time.perf_counter() - t0:.1f} s"
    )


@data_app.command(epilog="Example:  cnnlab data inspect ../shared/data/cats-and-dogs")
def inspect(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="DIR/train/<class>/* + DIR/test/<class>/*, or DIR/<class>/*. Default: the built-in dataset.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Show a folder's classes, files per split and class, formats, modes, sizes and unreadable files."""
    from cnnlab.data.inspect import inspect_folder

    if directory is None:
        from cnnlab.data.synth import builtin_root

        directory = builtin_root()
    report = inspect_folder(directory)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    layout = "train/ and test/ folders" if report.split_layout else "flat class folders (split at load time)"
    lines = [f"{report.root}  ({layout})", ""]
    names = report.classes
    width = max(len(n) for n in [*names, "total", "label"])
    lines.append("split  " + "  ".join(n.rjust(width) for n in [*names, "total"]))
    for split, row in report.counts.items():
        lines.append(f"{split:<5}  " + "  ".join(str(v).rjust(width) for v in [*row, sum(row)]))
    lines.append("label  " + "  ".join(str(k).rjust(width) for k in range(len(names))))
    lines.append("")

    def common(counter, fmt=str, top=4):
        items = counter.most_common()
        text = ", ".join(f"{fmt(k)} ({n})" for k, n in items[:top])
        return text + (f", ... {len(items) - top} more" if len(items) > top else "") if items else "-"

    lines.append(f"formats     {common(report.formats)}")
    lines.append(f"modes       {common(report.modes)}")
    lines.append(f"sizes       {common(report.sizes, lambda s: f'{s[0]}x{s[1]}')}")
    if report.sizes:
        ws, hs = [s[0] for s in report.sizes], [s[1] for s in report.sizes]
        lines.append(f"            width {min(ws)}..{max(ws)}, height {min(hs)}..{max(hs)}")
    lines.append(
        f"unreadable  {len(report.unreadable)}" + (" (skipped when loading):" if report.unreadable else "")
    )
    lines += [f"  {path}: {reason}" for path, reason in report.unreadable]
    typer.echo("\n".join(lines))
