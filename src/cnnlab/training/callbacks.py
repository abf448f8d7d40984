"""Progress hooks of a training run (:class:`Callbacks`) and the one-line note about skipped files.

The loop (:func:`cnnlab.training.loop.fit`) calls them in the main process only, with the same numbering
for every backend: epochs are 1-based, and ``on_step`` counts the mini-batches of each epoch 1..steps.
"""

from __future__ import annotations

from typing import Any


class Callbacks:
    """Progress hooks; the default does nothing. Subclass and override what you need."""

    def on_train_start(self, settings: Any, num_train: int, num_val: int, start_epoch: int) -> None:
        """Before the first epoch (``start_epoch > 1`` when resuming): the settings and split sizes."""

    def on_epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        """``epoch`` is 1-based; ``steps`` the number of mini-batches this epoch."""

    def on_step(self, step: int, loss: float, acc: float, images: int) -> None:
        """After mini-batch ``step`` (1..steps of this epoch): its loss and accuracy and how many images
        it held (all processes together under DDP)."""

    def on_epoch_end(self, row: dict[str, Any]) -> None:
        """``row`` has the keys of ``cnnlab.rundir.METRIC_COLUMNS``."""

    def on_message(self, text: str) -> None:
        """A one-line note (checkpoint saved, stopped early, skipped files...)."""


def skipped_files_note(skipped: list[tuple[str, str]], shown: int = 3) -> str | None:
    """One line about the files a dataset load skipped, or ``None`` when there were none.

    ``skipped`` is ``cnnlab.data.Dataset.skipped``: ``[(path, reason), ...]``. The first ``shown`` are
    named; all of them go into ``config.json`` (``"skipped_files"``) so nothing is lost silently.
    """
    if not skipped:
        return None
    listed = "; ".join(f"{path} ({reason})" for path, reason in skipped[:shown])
    more = f"; and {len(skipped) - shown} more (see config.json)" if len(skipped) > shown else ""
    noun = "file" if len(skipped) == 1 else "files"
    return f"skipped {len(skipped)} unreadable {noun}: {listed}{more}"
