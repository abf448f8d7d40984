"""Training on several processes: ``torchrun --nproc_per_node=N -m cnnlab.torch_backend.ddp [options]``.

Each process runs :func:`cnnlab.torch_backend.trainer.train`, which sees ``WORLD_SIZE > 1`` (set by
``torchrun``), joins the process group (gloo on CPU, NCCL on CUDA, one GPU per process by
``LOCAL_RANK``) and wraps the model in ``DistributedDataParallel``. ``recipe.batch_size`` stays the
*global* batch: every rank takes an interleaved share of each global batch (the distributed sampler,
:func:`cnnlab.torch_backend.trainer.shard`), so N processes follow the single-process trajectory (equal
up to float summation order; dropout masks are per rank). Only rank 0 writes the run directory.

Example (two CPU processes on this machine)::

    torchrun --standalone --nproc_per_node=2 -m cnnlab.torch_backend.ddp --recipe lab --out runs/ddp

:func:`spawn` does the same from Python with ``torch.multiprocessing`` on ``127.0.0.1`` (the tests use it).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from cnnlab.recipes import RECIPES, get_recipe
from cnnlab.training import Callbacks, TrainSettings


def parse_args(argv: list[str] | None = None) -> TrainSettings:
    """Options -> :class:`TrainSettings` (backend ``torch``)."""
    p = argparse.ArgumentParser(
        prog="python -m cnnlab.torch_backend.ddp", description=__doc__.splitlines()[0]
    )
    p.add_argument("--model", default="cnn", choices=["simple", "cnn"])
    p.add_argument("--recipe", default="improved", choices=sorted(RECIPES))
    p.add_argument("--data", default=None, help="image-folder root (default: the built-in dataset)")
    p.add_argument("--out", default="runs/ddp")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None, help="global batch over all processes")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    recipe = get_recipe(a.recipe).with_overrides(
        epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=a.seed
    )
    return TrainSettings(
        backend="torch",
        model=a.model,
        recipe=recipe,
        image_size=a.image_size,
        data=a.data,
        out=Path(a.out),
        device=a.device,
        resume=a.resume,
        overwrite=a.overwrite,
    )


class _Print(Callbacks):
    def on_epoch_end(self, row: dict) -> None:
        val = "" if row["val_acc"] is None else f"  val loss {row['val_loss']:.4f} acc {row['val_acc']:.3f}"
        print(
            f"epoch {row['epoch']:3.0f}  loss {row['train_loss']:.4f} acc {row['train_acc']:.3f}{val}"
            f"  {row['seconds']:.2f}s",
            flush=True,
        )

    def on_message(self, text: str) -> None:
        print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of one process under ``torchrun``."""
    from cnnlab.errors import CnnlabError
    from cnnlab.torch_backend.trainer import train

    settings = parse_args(argv)
    try:
        run = train(settings, _Print())
    except CnnlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"run directory: {run.path}")
    return 0


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
    from cnnlab.torch_backend.trainer import train

    train(settings)


def spawn(settings: TrainSettings, nprocs: int = 2) -> None:
    """Run ``train(settings)`` in ``nprocs`` fresh processes joined over ``127.0.0.1`` (gloo on CPU).

    Raises ``torch.multiprocessing.ProcessRaisedException`` if a process fails.
    """
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(nprocs, free_port(), settings), nprocs=nprocs, join=True)


if __name__ == "__main__":
    sys.exit(main())
