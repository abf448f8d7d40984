"""Data pipeline benchmark: loading the Kaggle photos cold and warm, augmentation, the built-in set.

Cold = decode every JPEG and write the cache (an empty cache directory each time; the files are in the
OS page cache after the first run, so this is the decoding cost, not the disk's). Warm = list the
folder, check the key and read the ``.npz``. Rows say "skipped: photos absent" when
``../shared/data/cats-and-dogs`` (or ``$CNNLAB_REAL_DATA``) is missing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from cnnlab.bench import row, timeit

REAL_DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "cats-and-dogs"


def _real_data() -> Path:
    return Path(os.environ.get("CNNLAB_REAL_DATA", REAL_DATA))


class _TempCache:
    """Point ``$CNNLAB_CACHE`` at a fresh temporary folder for the duration of a ``with`` block."""

    def __enter__(self) -> Path:
        self.old = os.environ.get("CNNLAB_CACHE")
        self.path = Path(tempfile.mkdtemp(prefix="cnnlab-bench-"))
        os.environ["CNNLAB_CACHE"] = str(self.path)
        return self.path

    def __exit__(self, *exc) -> None:
        if self.old is None:
            os.environ.pop("CNNLAB_CACHE", None)
        else:
            os.environ["CNNLAB_CACHE"] = self.old
        shutil.rmtree(self.path, ignore_errors=True)


def _load_rows(quick: bool) -> list[dict]:
    from cnnlab.data import load_dataset

    root = _real_data()
    if not (root / "train").is_dir():
        return [
            row("data", case, None, "", target, None, note=f"skipped: photos absent ({root})")
            for case, target in (("Kaggle cold load", "< 3 s"), ("Kaggle warm load (cached)", "< 0.1 s"))
        ]
    repeat = 1 if quick else 3
    with _TempCache() as cache:

        def cold():
            shutil.rmtree(cache / "images", ignore_errors=True)
            return load_dataset(root)

        t_cold = timeit(cold, repeat=repeat, warmup=1)
        n = sum(len(s) for s in (cold().train, cold().test))
        t_warm = timeit(lambda: load_dataset(root), repeat=3 * repeat, warmup=1)
        t_decode = timeit(lambda: load_dataset(root, cache=False), repeat=repeat, warmup=0)
    note = f"{n} images -> 64x64 RGB, {os.cpu_count()} cores"
    return [
        row("data", "Kaggle cold load (decode + write cache)", t_cold, "s", "< 3 s", t_cold < 3.0, note),
        row("data", "Kaggle cold load rate", n / t_cold, "img/s", "", None, note),
        row("data", "Kaggle load without cache (decode only)", t_decode, "s", "", None, note),
        row("data", "Kaggle warm load (cached)", t_warm, "s", "< 0.1 s", t_warm < 0.1, note),
        row("data", "Kaggle warm load rate", n / t_warm, "img/s", "", None, note),
    ]


def _augment_rows(quick: bool) -> list[dict]:
    from cnnlab.data import Augmenter

    images = np.random.default_rng(0).integers(0, 256, size=(32, 64, 64, 3), dtype=np.uint8)
    aug = Augmenter(0)
    t = timeit(lambda: aug(images), repeat=20 if quick else 200, warmup=5)
    plain = Augmenter(0, jitter=0.0)
    t_geom = timeit(lambda: plain(images), repeat=20 if quick else 200, warmup=5)
    return [
        row("data", "Augmenter: batch 32x64x64x3 (flip+crop+jitter)", t * 1e3, "ms", "<= 1 ms", t <= 1e-3),
        row("data", "Augmenter: flip + crop only", t_geom * 1e3, "ms", "", None),
    ]


def _synth_rows(quick: bool) -> list[dict]:
    from cnnlab.data import synth

    t = timeit(lambda: synth.render(1, 7), repeat=20 if quick else 100, warmup=2)
    rows = [row("data", "built-in: render one 64x64 picture", t * 1e3, "ms", "", None)]
    if not quick:
        with _TempCache():
            t_gen = timeit(synth.builtin_root, repeat=1, warmup=0)
        n = 2 * sum(synth.BUILTIN_COUNTS.values())
        rows.append(
            row(
                "data",
                "built-in: generate the dataset (PNGs)",
                t_gen,
                "s",
                "< 5 s",
                t_gen < 5.0,
                f"{n} images",
            )
        )
    return rows


def run(quick: bool = False) -> list[dict]:
    """The data benchmark rows (see the module docstring)."""
    return _load_rows(quick) + _augment_rows(quick) + _synth_rows(quick)
