"""The ``cnnlab`` command.

Thin: each sub-command lives in its own module of this package, parses its arguments with typer and
calls the library. Errors a user can cause print one line on stderr and exit non-zero; ``--debug``
(anywhere on the command line) shows the traceback instead.
"""

from __future__ import annotations

import importlib
import sys

from cnnlab.cli.app import app

#: Modules that add commands to ``app`` when imported (one per command or command group).
COMMAND_MODULES = ["train", "evaluate", "predict", "summary", "data", "bench", "grade", "explore", "student"]


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(f"cnnlab.cli.{name}")
        except ModuleNotFoundError as exc:
            # A command module not written yet; anything else missing is a real error.
            if exc.name != f"cnnlab.cli.{name}":
                raise


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    import click

    from cnnlab.errors import CnnlabError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    _register()
    import typer.main

    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="cnnlab", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:  # usage errors: bad or missing arguments
        if debug:
            raise
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        print("cnnlab: aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        if debug:
            raise
        print("cnnlab: interrupted", file=sys.stderr)
        return 130
    except CnnlabError as exc:
        if debug:
            raise
        print(f"cnnlab: error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError, RuntimeError) as exc:
        if debug:
            raise
        print(f"cnnlab: error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", file=sys.stderr)
        return 1
    return 0


def entry() -> None:  # pragma: no cover - console script wrapper
    sys.exit(main())
