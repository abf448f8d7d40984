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
    """Training stopped early (Ctrl-C or a non-finite loss); the last good checkpoint is kept.

    Fields, so that nobody parses the message: ``reason`` (``"interrupted"`` or ``"non-finite loss"``),
    ``epoch`` (the 1-based epoch it stopped in), ``epoch_kept`` (the last epoch whose checkpoint and
    metrics row are on disk; 0: none), ``run`` (the run directory), ``resumable`` (``--resume`` continues
    it: from ``epoch_kept + 1``, or from epoch 1 when nothing was kept), and for a non-finite loss
    ``step`` and ``loss``.
    """

    INTERRUPTED = "interrupted"
    NON_FINITE = "non-finite loss"

    def __init__(
        self,
        reason: str,
        epoch: int,
        epoch_kept: int,
        run: object = None,
        step: int | None = None,
        loss: float | None = None,
        resumable: bool = True,
    ):
        self.reason, self.epoch, self.epoch_kept, self.run = reason, epoch, epoch_kept, run
        self.step, self.loss, self.resumable = step, loss, resumable
        if reason == self.NON_FINITE:
            what = f"the training loss became {loss} at epoch {epoch}, step {step}"
        else:
            what = f"{reason} in epoch {epoch}"
        if epoch_kept > 0:
            kept = f"kept the checkpoint of epoch {epoch_kept}"
        else:
            kept = "no epoch had finished, so nothing was kept"
        hint = "; try a lower learning rate" if reason == self.NON_FINITE else ""
        super().__init__(f"{what}; {kept}{hint}")

    def __reduce__(self):
        # pickled with its fields (a worker process's stop reaches its parent whole, not as a TypeError)
        args = (self.reason, self.epoch, self.epoch_kept, self.run, self.step, self.loss, self.resumable)
        return type(self), args


def require(module: str, extra: str):
    """Import ``module`` or raise :class:`MissingDependencyError` naming the pip extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"{module} is not installed; install it with: pip install 'cnnlab[{extra}]'"
        ) from exc
