"""``cnnlab bench``: every benchmark side by side, printed as one table (``--json`` for machines).

The same rows and the same output as ``benchmarks/run_all.py`` (``make bench``).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cnnlab.cli.app import app


@app.command(
    epilog="Examples:  cnnlab bench --quick  |  cnnlab bench --only ops,data --json",
)
def bench(
    only: Annotated[
        str,
        typer.Option(help="Comma-separated subset of the benchmarks: ops, data, train_step, torch_train."),
    ] = "",
    quick: Annotated[bool, typer.Option("--quick", help="Fewer repeats and smaller cases.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """Run the benchmarks (speed ratios measured side by side in one run) and print one table."""
    from cnnlab.bench import BENCHMARKS, format_table, run_all

    names = [s.strip() for s in only.split(",") if s.strip()] or None
    unknown = [n for n in names or [] if n not in BENCHMARKS]
    if unknown:
        raise typer.BadParameter(
            f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}", param_hint="'--only'"
        )
    rows = run_all(names, quick=quick)
    print(json.dumps(rows, indent=2) if as_json else format_table(rows))
