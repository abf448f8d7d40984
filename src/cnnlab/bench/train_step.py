"""One training step of the lab's ``cnn`` (forward, loss, backward, Adam) at batch 32, float32: NumPy
(:mod:`cnnlab.nn`) against PyTorch CPU, measured side by side in one run, and the NumPy step's peak memory.

Target (issue 4): the NumPy step within 1.5x of PyTorch's default (NCHW) layout; channels-last is shown
too. The three steps are timed in turns and each figure is the best of its repeats, so that load from
other processes hits all alike; both libraries use their default number of threads (the notes say).
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from cnnlab.bench import row

BATCH = 32
IMAGE = 64
TARGET = 1.5


def numpy_step(seed: int = 0):
    """A closure running one NumPy training step of ``cnn`` on a fixed random batch."""
    from cnnlab.nn import Adam, build_model, softmax_cross_entropy

    rng = np.random.default_rng(seed)
    model = build_model("cnn", image_size=IMAGE, seed=seed)
    opt = Adam(model.parameters(), lr=1e-3)
    x = rng.uniform(-1, 1, (BATCH, IMAGE, IMAGE, 3)).astype(np.float32)
    y = rng.integers(0, 2, BATCH)

    def step() -> float:
        loss, dlogits = softmax_cross_entropy(model.forward(x), y)
        model.backward(dlogits, input_grad=False)
        opt.step(model.gradients())
        return loss

    return step


def torch_step(channels_last: bool, seed: int = 0):
    """A closure running one PyTorch CPU training step of the same ``cnn``."""
    import torch

    from cnnlab.torch_backend import build_model

    torch.manual_seed(seed)
    model = build_model("cnn", image_size=IMAGE)
    x = torch.rand(BATCH, 3, IMAGE, IMAGE) * 2 - 1
    y = torch.randint(0, 2, (BATCH,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def peak_memory_mb(step) -> float:
    """Peak of memory allocated (NumPy arrays included, via tracemalloc) during one ``step()``, in MB."""
    step()  # warm: optimizer state and caches exist before the measurement
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - base) / 1e6


def _paired(fns: list[Callable[[], object]], repeat: int, warmup: int = 3) -> list[float]:
    """Best wall time of each function, timed in turns, so load from other processes hits all alike."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def run(quick: bool = False) -> list[dict]:
    repeat = 5 if quick else 20
    name = "train_step"
    rows = []
    np_step = numpy_step()
    threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"
    np_note = f"BLAS threads: {threads}"
    try:
        import torch

        import cnnlab.torch_backend  # noqa: F401 - the same cnn, built from the same specs
    except ImportError as exc:
        (t_np,) = _paired([np_step], repeat)
        rows.append(row(name, f"cnn b{BATCH} f32 step: numpy", t_np * 1e3, "ms", note=np_note))
        rows.append(row(name, "cnn step: torch", None, "", note=f"torch not available: {exc}"))
    else:
        t_np, t_torch, t_cl = _paired([np_step, torch_step(False), torch_step(True)], repeat)
        note = f"torch threads: {torch.get_num_threads()}"
        rows.append(row(name, f"cnn b{BATCH} f32 step: numpy", t_np * 1e3, "ms", note=np_note))
        rows.append(row(name, f"cnn b{BATCH} f32 step: torch (NCHW)", t_torch * 1e3, "ms", note=note))
        rows.append(row(name, f"cnn b{BATCH} f32 step: torch channels_last", t_cl * 1e3, "ms", note=note))
        ratio = t_np / t_torch
        rows.append(
            row(
                name,
                "numpy / torch (NCHW)",
                ratio,
                "x",
                target=f"<= {TARGET}",
                ok=ratio <= TARGET,
                note="aim: 1.0",
            )
        )
        rows.append(row(name, "numpy / torch channels_last", t_np / t_cl, "x"))
    rows.append(row(name, "numpy step peak memory", peak_memory_mb(np_step), "MB", note="tracemalloc"))
    return rows


if __name__ == "__main__":  # pragma: no cover
    from cnnlab.bench import format_table

    print(format_table(run()))
