"""Small image folders for the data tests, written with Pillow."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def save_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def make_folder(
    root: Path,
    counts: dict[str, int],
    splits: tuple[str, ...] = ("train", "test"),
    size: int = 12,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Random RGB PNGs ``root/<split>/<class>/img_<i>.png`` (or ``root/<class>/...`` with ``splits=("",)``).

    Returns ``{path: pixels}`` for every file written.
    """
    rng = np.random.default_rng(seed)
    written = {}
    for split in splits:
        for name, n in counts.items():
            for i in range(n):
                a = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
                p = save_png(
                    root / split / name / f"img_{i:03d}.png" if split else root / name / f"img_{i:03d}.png", a
                )
                written[str(p)] = a
    return written


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def bomb_png(path: Path, side: int = 20000) -> Path:
    """A tiny PNG whose header claims ``side x side`` 1-bit pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    body = png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path
