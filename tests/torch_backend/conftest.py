"""Shared helpers of the torch-backend tests: small, fast settings on the built-in dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnlab.recipes import Recipe
from cnnlab.training import TrainSettings


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread per test: the suite runs with ``-n 2`` on 2 cores, so more would oversubscribe."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_settings(out: Path, **recipe_changes) -> TrainSettings:
    """The ``simple`` model at 16x16 on the built-in dataset: a few seconds per run on a CPU."""
    fields = dict(
        name="test",
        epochs=3,
        batch_size=32,
        lr=3e-3,
        optimizer="adamw",
        weight_decay=1e-2,
        schedule="onecycle",
        augment=True,
        dropout=0.0,
        val_fraction=0.2,
        label_smoothing=0.1,
        tta_flip=True,
        seed=7,
    )
    fields.update(recipe_changes)
    return TrainSettings(backend="torch", model="simple", recipe=Recipe(**fields), out=out, device="cpu")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One finished small run, shared by the read-only tests of a module."""
    from cnnlab.torch_backend.trainer import train

    out = tmp_path_factory.mktemp("torch-run") / "run"
    return train(small_settings(out, dropout=0.2))
