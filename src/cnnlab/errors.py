"""Exceptions that reach users.

Everything a user can cause (a bad path, a bad argument, a corrupt file) raises a subclass of
:class:`CnnlabError` with a one-line message that says what was expected. The CLI prints that line
(no traceback unless ``--debug``) and exits non-zero.
"""

from __future__ import annotations


class CnnlabError(Exception):
    """A problem the user can fix; its message is one clear line."""


class DataError(CnnlabError, ValueError):
    """A dataset or image that cannot be used (missing folder, no classes, unreadable image...)."""


class RunDirError(CnnlabError, ValueError):
    """A path that is not a cnnlab run directory, or one that would be overwritten."""


class MissingDependencyError(CnnlabError, ImportError):
    """An optional extra (torch, web, cli) is not installed."""


class TrainingStopped(CnnlabError):
    """Training stopped early (Ctrl-C or a non-finite loss); the last good checkpoint is kept."""


def require(module: str, extra: str):
    """Import ``module`` or raise :class:`MissingDependencyError` naming the pip extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"{module} is not installed; install it with: pip install 'cnnlab[{extra}]'"
        ) from exc
