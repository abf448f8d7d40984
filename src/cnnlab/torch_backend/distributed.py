"""Several training processes (DDP): this process's place, the distributed sampler's share, test spawning.

The one command is ``torchrun --standalone --nproc_per_node=N -m cnnlab train --backend torch ...``: each
process runs the same fit loop (:mod:`cnnlab.training.loop`); the torch runtime
(:mod:`cnnlab.torch_backend.engine`) sees ``WORLD_SIZE > 1`` (set by ``torchrun``), joins the process
group (gloo on CPU, NCCL on CUDA, one GPU per process by ``LOCAL_RANK``) and wraps the model in
``DistributedDataParallel``. ``recipe.batch_size`` stays the *global* batch: every rank takes an
interleaved share of each global batch (:func:`shard`), so N processes follow the single-process
trajectory (equal up to float summation order; dropout masks are per rank). Only rank 0 writes the run
directory and reports progress. :mod:`cnnlab.torch_backend.spawn` does the same from Python (the tests).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dist:
    """This process's place among ``world`` training processes (``world == 1``: no DDP)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def dist_from_env() -> Dist:
    """Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` as set by ``torchrun``; absent -> one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    return Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))


def shard(batch: np.ndarray, rank: int, world: int) -> np.ndarray:
    """The distributed sampler's share of one global batch: every ``world``-th item from ``rank``.

    Over all ranks the shares partition ``batch``; sizes differ by at most one (the last batch of an
    epoch need not divide evenly). ``shard(b, 0, 1)`` is ``b``.
    """
    return batch[rank::world]
