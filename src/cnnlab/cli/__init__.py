"""The ``cnnlab`` command.

Thin: each sub-command lives in its own module of this package, parses its arguments with typer and
calls the library. Errors a user can cause print one line on stderr and exit non-zero; ``--debug``
(anywhere on the command line) shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import importlib
import sys

from cnnlab.cli.app import app

#: Modules that add commands to ``app`` when imported (one per command or command group).
COMMAND_MODULES = [
    "train",
    "cv",
    "evaluate",
    "predict",
    "summary",
    "data",
    "bench",
    "grade",
    "explore",
    "student",
]


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(f"cnnlab.cli.{name}")
        except ModuleNotFoundError as exc:
            # A command module not written yet; anything else missing is a real error.
            if exc.name != f"cnnlab.cli.{name}":
                raise


def _click_errors() -> tuple[type[BaseException], ...]:
    """The ``ClickException`` classes to catch: typer >= 0.20 vendors click as ``typer._click``."""
    types: list[type[BaseException]] = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        with contextlib.suppress(ImportError):
            types.append(importlib.import_module(module).ClickException)
    return tuple(types)


def _one_line(exc: BaseException) -> str:
    """A usage error as one line: the message and where to find help."""
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    return f"cnnlab: error: {message}{hint}"


def _printable(exc: BaseException) -> str:
    """An error's message with terminal control characters escaped (it may quote a student's file name)."""
    from cnnlab.grading.report import clean

    return clean(str(exc))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    import typer
    import typer.main

    from cnnlab.errors import CnnlabError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    _register()
    click_errors = _click_errors()
    command = typer.main.get_command(app)
    try:
        # Not standalone: typer returns the code of a ``typer.Exit`` (130 for Ctrl-C) and raises the rest.
        rv = command.main(args=args, prog_name="cnnlab", standalone_mode=False)
    except click_errors as exc:  # usage errors: bad or missing arguments
        if debug:
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # `cnnlab` or a group alone: show its help
            print(exc.format_message(), file=sys.stderr)
        else:
            print(_one_line(exc), file=sys.stderr)
        return exc.exit_code
    except typer.Abort:
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
        print(f"cnnlab: error: {_printable(exc)}", file=sys.stderr)
        return 1
    except (ValueError, OSError, RuntimeError) as exc:
        if debug:
            raise
        hint = "(run with --debug for the traceback)"
        print(f"cnnlab: error: {type(exc).__name__}: {_printable(exc)} {hint}", file=sys.stderr)
        return 1
    if isinstance(rv, int) and not isinstance(rv, bool):
        return rv  # a command's typer.Exit code; 130 after Ctrl-C (the command has said what it kept)
    return 0


def entry() -> None:  # pragma: no cover - console script wrapper
    sys.exit(main())
