"""``torch_train``: wall time of the ``lab`` recipe's 50 epochs with PyTorch on this CPU, data included.

The lab's Part 2 trained its ``CNNClassifier`` on the 557 Kaggle photos (64x64) for 50 epochs in about
5 minutes. This benchmark runs the same recipe through :func:`cnnlab.training.fit` into a temporary
run directory, with the default threads (:func:`cnnlab.torch_backend.device.default_torch_threads`) and
with every CPU, side by side: the time covers decoding the images (cold cache for the first run),
building the model, the 50 epochs and the checkpoints. It uses the real photos when they are at
``$CNNLAB_REAL_DATA`` or ``../shared/data/cats-and-dogs`` beside the project, else 557 random 64x64
PNG images in the same layout (the note says which). Target: under 20 s; the floor is ~10 s here
(2.25 GFLOP per batch-32 step at ~200 GFLOP/s).

It also times one training step (forward, backward, Adam update) of a batch of 32 in each backend and
prints the ratio NumPy / torch.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from cnnlab.bench import row, timeit

NAME = "torch_train"
KAGGLE_TRAIN = {"cats": 279, "dogs": 278}  # 557 images, as in the lab
TARGET_S = 20.0


def real_photos() -> Path | None:
    """The Kaggle photos if present (``$CNNLAB_REAL_DATA`` or ``<project>/../shared/data/cats-and-dogs``)."""
    default = Path(__file__).resolve().parents[4] / "shared" / "data" / "cats-and-dogs"
    root = Path(os.environ.get("CNNLAB_REAL_DATA", default))
    return root if (root / "train").is_dir() and (root / "test").is_dir() else None


def synthetic_photos(root: Path, seed: int = 0) -> Path:
    """557 random 64x64 RGB PNGs in the Kaggle layout (``train/{cats,dogs}``, plus a small ``test/``)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, counts in (("train", KAGGLE_TRAIN), ("test", {"cats": 4, "dogs": 4})):
        for cls, n in counts.items():
            d = root / split / cls
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(d / f"{cls}_{i}.png")
    return root


def _lab_run(data: Path, epochs: int, work: Path, threads: int | None = None) -> float:
    from cnnlab.recipes import get_recipe
    from cnnlab.training import TrainSettings, fit

    settings = TrainSettings(
        backend="torch",
        model="cnn",
        recipe=get_recipe("lab").with_overrides(epochs=epochs),
        data=str(data),
        out=work / "run",
        device="cpu",
        overwrite=True,
        threads=threads,
    )
    t0 = time.perf_counter()
    fit(settings)
    return time.perf_counter() - t0


def _torch_step(batch: int = 32) -> float:
    import torch
    import torch.nn.functional as F

    from cnnlab.torch_backend.models import build_model

    torch.manual_seed(0)
    model = build_model("cnn").to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)  # as the trainer
    x = torch.randn(batch, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return timeit(step, repeat=10, warmup=3)


def _numpy_step(batch: int = 32) -> float:
    from cnnlab.nn import Adam, build_model, softmax_cross_entropy

    model = build_model("cnn", seed=0)
    opt = Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 64, 64, 3)).astype(np.float32)
    y = rng.integers(0, 2, batch)

    def step():
        _, dlogits = softmax_cross_entropy(model.forward(x), y)
        model.backward(dlogits, input_grad=False)
        opt.step(model.gradients())

    return timeit(step, repeat=3, warmup=1)


def run(quick: bool = False) -> list[dict]:
    """Rows: the lab recipe's wall time (50 epochs; ``quick``: 5 epochs, scaled to 50 in the note) and
    the per-step times and ratio of the two backends."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return [
            row(
                NAME,
                "(not available)",
                None,
                "",
                note="PyTorch is not installed: pip install 'cnnlab[torch]'",
            )
        ]
    from cnnlab.torch_backend.device import cpus, default_torch_threads

    epochs = 5 if quick else 50
    rows = []
    with tempfile.TemporaryDirectory(prefix="cnnlab-bench-") as tmp:
        work = Path(tmp)
        old_cache = os.environ.get("CNNLAB_CACHE")
        os.environ["CNNLAB_CACHE"] = str(work / "cache")  # cold cache: decoding is part of the time
        try:
            data = real_photos()
            which = f"the Kaggle photos at {data}" if data else "557 synthetic 64x64 PNGs (no photos found)"
            data = data or synthetic_photos(work / "photos")
            seconds = _lab_run(data, epochs, work)  # the default threads
            all_cpus = cpus()
            seconds_all = _lab_run(data, epochs, work, threads=all_cpus)  # the cache is warm now
        finally:
            if old_cache is None:
                os.environ.pop("CNNLAB_CACHE", None)
            else:
                os.environ["CNNLAB_CACHE"] = old_cache
    case = f"lab recipe, {epochs} epochs, 557 images 64x64, CPU, data loading included"
    if quick:
        rows.append(row(NAME, case, seconds, "s", note=f"{which}; ~{seconds * 10:.0f} s for 50 epochs"))
    else:
        rows.append(
            row(
                NAME,
                case,
                seconds,
                "s",
                f"< {TARGET_S:.0f}",
                seconds < TARGET_S,
                f"{which}; the lab took ~300 s",
            )
        )
    default = default_torch_threads()
    rows.append(
        row(
            NAME,
            f"the same: default threads ({default}) / all {all_cpus} CPUs",
            seconds / seconds_all,
            "x",
            note=f"{seconds:.1f} s vs {seconds_all:.1f} s (the second run reads cached images); "
            "below 1: the default is faster",
        )
    )
    t_torch = _torch_step()
    rows.append(row(NAME, "cnn train step, batch 32: torch (channels-last)", t_torch * 1e3, "ms"))
    try:
        t_numpy = _numpy_step()
    except (ImportError, AttributeError, TypeError) as exc:
        rows.append(
            row(NAME, "cnn train step: numpy / torch", None, "x", note=f"cnnlab.nn unavailable: {exc}")
        )
    else:
        rows.append(row(NAME, "cnn train step, batch 32: numpy (cnnlab.nn)", t_numpy * 1e3, "ms"))
        rows.append(row(NAME, "cnn train step: numpy / torch", t_numpy / t_torch, "x"))
    return rows
