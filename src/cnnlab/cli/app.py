"""The typer application every command module adds to."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="cnnlab",
    help="The CNN lab as software: train, evaluate, predict, summarise, benchmark, grade and explore.\n\n"
    "Add --debug anywhere to see a traceback instead of a one-line error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _print_version(value: bool) -> None:
    if value:
        from cnnlab import __version__

        print(f"cnnlab {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print cnnlab's version and exit."
    ),
) -> None:
    pass
