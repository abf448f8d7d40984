"""The lab's ops: loops against vectorized, and vectorized against PyTorch CPU, side by side in one run.

Cases are the three blocks of the lab's ``CNNClassifier`` at batch 32, float32: Conv(3x3, pad 1) with
3->16, 16->32 and 32->64 channels on 64x64, 32x32 and 16x16 inputs, each followed by MaxPool(2, 2).

- ``loops / vectorized``: block 1 only. The loops take seconds per image, so they run on a smaller batch
  and both sides are compared per image (the note gives the batch sizes). Target (issue 2) for the
  first conv layer: >= 1000x; the max-pool ratio is shown for information.
- ``vectorized / torch``: conv forward+backward (every gradient, the input's included) and max-pool
  forward+backward per block, then the three blocks together. Target: within 2.0x of PyTorch's default
  NCHW layout (aim 1.0x); channels-last is shown as well. Both libraries use their default number of
  threads; the two sides are timed alternately and each figure is the best of its repeats, so that load
  from other processes hits both alike. On a busy machine multi-threaded timings swing widely, so the
  totals are also given with one thread on each side, measured as CPU time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

from cnnlab.bench import row, timeit
from cnnlab.ops._threads import num_threads

BATCH = 32
#: (input side, in channels, out channels) of the three conv blocks of the lab's CNNClassifier.
BLOCKS = [(64, 3, 16), (32, 16, 32), (16, 32, 64)]
CONV_HP = {"stride": 1, "pad": 1}
POOL_HP = {"f": 2, "stride": 2}
LOOPS_TARGET = 1000.0
TORCH_TARGET = 2.0


def _paired(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """Best wall time of each function, timing them in turns (after one warm-up call each)."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def _block_arrays(side: int, c_in: int, c_out: int, batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((batch, side, side, c_in)).astype(np.float32)
    W = (rng.standard_normal((3, 3, c_in, c_out)) * np.sqrt(2 / (9 * c_in))).astype(np.float32)
    b = (rng.standard_normal((1, 1, 1, c_out)) * 0.1).astype(np.float32)
    dZ = rng.standard_normal((batch, side, side, c_out)).astype(np.float32)
    dP = rng.standard_normal((batch, side // 2, side // 2, c_out)).astype(np.float32)
    return A, W, b, dZ, dP


def _numpy_conv(ops, A, W, b, dZ):
    def run():
        _, cache = ops.conv_forward(A, W, b, CONV_HP)
        return ops.conv_backward(dZ, cache)

    return run


def _numpy_pool(ops, Z, dP):
    def run():
        _, cache = ops.pool_forward(Z, POOL_HP, "max")
        return ops.pool_backward(dP, cache, "max")

    return run


def _torch_cases(A, W, b, dZ, dP, channels_last: bool):
    """Closures for torch conv2d fwd+bwd (input, weight and bias grads) and max_pool2d fwd+bwd."""
    import torch

    F = torch.nn.functional
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def nchw(x):
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).contiguous(memory_format=fmt)

    a = nchw(A).requires_grad_(True)
    w = torch.from_numpy(np.ascontiguousarray(W.transpose(3, 2, 0, 1))).contiguous(memory_format=fmt)
    w.requires_grad_(True)
    bias = torch.from_numpy(b.reshape(-1).copy()).requires_grad_(True)
    g_conv, g_pool = nchw(dZ), nchw(dP)
    with torch.no_grad():
        z = F.conv2d(a, w, bias, padding=CONV_HP["pad"]).contiguous(memory_format=fmt)
    z.requires_grad_(True)

    def conv():
        a.grad = w.grad = bias.grad = None
        F.conv2d(a, w, bias, padding=CONV_HP["pad"]).backward(g_conv)

    def pool():
        z.grad = None
        F.max_pool2d(z, POOL_HP["f"], POOL_HP["stride"]).backward(g_pool)

    return conv, pool


def _loops_rows(quick: bool) -> list[dict]:
    import cnnlab.ops as vec
    from cnnlab.ops import loops

    side, c_in, c_out = BLOCKS[0]
    small = 1 if quick else 2
    A, W, b, dZ, dP = _block_arrays(side, c_in, c_out, BATCH)
    Z, _ = vec.conv_forward(A, W, b, CONV_HP)
    rows = []
    for name, make, target in (
        ("conv1 fwd+bwd", lambda ops, m: _numpy_conv(ops, A[:m], W, b, dZ[:m]), LOOPS_TARGET),
        ("maxpool1 fwd+bwd", lambda ops, m: _numpy_pool(ops, Z[:m], dP[:m]), None),
    ):
        t_loops = timeit(make(loops, small), repeat=1, warmup=0)
        t_vec = timeit(make(vec, BATCH), repeat=3 if quick else 10)
        ratio = (t_loops / small) / (t_vec / BATCH)
        rows.append(
            row(
                "ops",
                f"{name}: loops / vectorized (per image)",
                ratio,
                "x",
                f">= {target:,.0f}" if target else "",
                ratio >= target if target else None,
                f"loops {t_loops:.2f} s for {small} image(s); vectorized {t_vec * 1e3:.1f} ms for {BATCH}",
            )
        )
    return rows


def _torch_rows(quick: bool) -> list[dict]:
    try:
        import torch
    except ImportError:
        return [
            row(
                "ops",
                "vectorized / torch",
                None,
                "",
                note="torch is not installed (pip install 'cnnlab[torch]')",
            )
        ]
    import cnnlab.ops as vec

    repeat = 3 if quick else 15
    rows = []
    cases = []  # (name, numpy fn, torch NCHW fn, torch channels_last fn)
    for k, (side, c_in, c_out) in enumerate(BLOCKS, start=1):
        A, W, b, dZ, dP = _block_arrays(side, c_in, c_out, BATCH, seed=k)
        Z, _ = vec.conv_forward(A, W, b, CONV_HP)
        t_conv, t_pool = _torch_cases(A, W, b, dZ, dP, channels_last=False)
        cl_conv, cl_pool = _torch_cases(A, W, b, dZ, dP, channels_last=True)
        conv_name = f"conv{k} {c_in}->{c_out} @{side}x{side} fwd+bwd"
        cases.append((conv_name, _numpy_conv(vec, A, W, b, dZ), t_conv, cl_conv))
        cases.append((f"maxpool{k} @{side}x{side}x{c_out} fwd+bwd", _numpy_pool(vec, Z, dP), t_pool, cl_pool))

    totals = np.zeros(3)
    for name, *fns in cases:
        t_np, t_t, t_cl = _paired(fns, repeat)
        totals += (t_np, t_t, t_cl)
        rows.append(
            row(
                "ops",
                f"{name}: vectorized / torch",
                t_np / t_t,
                "x",
                note=f"numpy {t_np * 1e3:.1f} ms, torch NCHW {t_t * 1e3:.1f} ms, "
                f"channels_last {t_cl * 1e3:.1f} ms",
            )
        )
    threads = (
        f"torch {torch.get_num_threads()} threads, cnnlab.ops {num_threads()} threads, {os.cpu_count()} CPUs"
    )
    ratio = totals[0] / totals[1]
    rows.append(
        row(
            "ops",
            "3 blocks conv+maxpool fwd+bwd: vectorized / torch NCHW",
            ratio,
            "x",
            f"<= {TORCH_TARGET} (aim 1.0)",
            bool(ratio <= TORCH_TARGET),
            f"numpy {totals[0] * 1e3:.1f} ms, torch {totals[1] * 1e3:.1f} ms; batch {BATCH}, float32, "
            f"every gradient; {threads}",
        )
    )
    rows.append(
        row(
            "ops",
            "3 blocks conv+maxpool fwd+bwd: vectorized / torch channels_last",
            totals[0] / totals[2],
            "x",
            note=f"torch channels_last {totals[2] * 1e3:.1f} ms",
        )
    )
    rows += _one_core_rows(cases, repeat)
    return rows


def _one_core_rows(cases, repeat: int) -> list[dict]:
    """The same totals with one thread on each side, as CPU time: insensitive to other processes' load."""
    import torch

    from cnnlab.ops._threads import blas_single_threaded

    saved_torch, saved_env = torch.get_num_threads(), os.environ.get("CNNLAB_OPS_THREADS")
    torch.set_num_threads(1)
    os.environ["CNNLAB_OPS_THREADS"] = "1"
    try:
        with blas_single_threaded():
            totals = np.zeros(3)
            for _, *fns in cases:
                for fn in fns:
                    fn()
                best = np.full(3, np.inf)
                for _ in range(repeat):
                    for k, fn in enumerate(fns):
                        t0 = time.process_time()
                        fn()
                        best[k] = min(best[k], time.process_time() - t0)
                totals += best
    finally:
        torch.set_num_threads(saved_torch)
        if saved_env is None:
            os.environ.pop("CNNLAB_OPS_THREADS", None)
        else:
            os.environ["CNNLAB_OPS_THREADS"] = saved_env
    return [
        row(
            "ops",
            f"3 blocks, one thread each (CPU time): vectorized / torch {layout}",
            totals[0] / totals[k],
            "x",
            note=f"numpy {totals[0] * 1e3:.1f} ms, torch {layout} {totals[k] * 1e3:.1f} ms",
        )
        for k, layout in ((1, "NCHW"), (2, "channels_last"))
    ]


def run(quick: bool = False) -> list[dict]:
    """Rows for ``make bench``: loops vs vectorized (block 1), then vectorized vs PyTorch (blocks, total)."""
    return _loops_rows(quick) + _torch_rows(quick)
