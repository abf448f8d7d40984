"""Start N training processes from Python, joined over ``127.0.0.1`` (what ``torchrun`` does; the tests).

:func:`spawn` runs :func:`cnnlab.training.loop.fit` in fresh processes with ``RANK``, ``WORLD_SIZE``...
set as ``torchrun`` sets them (:mod:`cnnlab.torch_backend.distributed`).
"""

from __future__ import annotations

import os
import socket

from cnnlab.engine.settings import TrainSettings


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, settings: TrainSettings) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
    )
    from cnnlab.training.loop import fit

    fit(settings)


def spawn(settings: TrainSettings, nprocs: int = 2) -> None:
    """Run :func:`cnnlab.training.loop.fit` on ``settings`` in ``nprocs`` processes (gloo on CPU).

    Raises ``torch.multiprocessing.ProcessRaisedException`` if a process fails.
    """
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(nprocs, free_port(), settings), nprocs=nprocs, join=True)
