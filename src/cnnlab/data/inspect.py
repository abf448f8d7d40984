"""What is in an image folder: classes, counts per split and class, formats, modes, sizes, bad files."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.data.folder import FORMATS, _first_line, _register_plugins, scan


@dataclass
class FolderReport:
    """The result of :func:`inspect_folder`."""

    root: Path
    split_layout: bool
    classes: list[str]
    counts: dict[str, list[int]]  # split ("train"/"test", or "all" for a flat layout) -> files per class
    formats: Counter = field(default_factory=Counter)  # Pillow format -> readable files
    modes: Counter = field(default_factory=Counter)  # Pillow mode -> readable files
    sizes: Counter = field(default_factory=Counter)  # (width, height) -> readable files
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def to_dict(self) -> dict:
        return {
            "root": str(self.root),
            "layout": "train/test" if self.split_layout else "flat",
            "classes": self.classes,
            "counts": self.counts,
            "formats": dict(self.formats.most_common()),
            "modes": dict(self.modes.most_common()),
            "sizes": {f"{w}x{h}": n for (w, h), n in self.sizes.most_common()},
            "unreadable": [{"path": p, "reason": r} for p, r in self.unreadable],
        }


def _probe(path: str) -> tuple[str, str, tuple[int, int]] | str:
    """``(format, mode, (width, height))`` of a fully decodable image, else the reason it is not."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=FORMATS) as im:
                info = (im.format, im.mode, im.size)
                im.load()
        return info
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return f"refused as a possible decompression bomb ({_first_line(exc)})"
    except Image.UnidentifiedImageError:
        return "not a JPEG, PNG, BMP, GIF or WebP image"
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        return f"unreadable image ({type(exc).__name__}: {_first_line(exc)})"


def inspect_folder(root: str | os.PathLike) -> FolderReport:
    """Scan ``root`` (same layouts and errors as :func:`cnnlab.data.load_dataset`) and decode every file
    once, in a thread pool, to find the unreadable ones. Counts are of files; nothing is cached."""
    from concurrent.futures import ThreadPoolExecutor

    listing = scan(root)
    _register_plugins()
    paths = [f.path for f in listing.files]
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        results = list(pool.map(_probe, paths))
    splits = ["train", "test"] if listing.split_layout else [""]
    counts = {
        (s or "all"): [
            sum(1 for f in listing.files if f.split == s and f.label == k)
            for k in range(len(listing.classes))
        ]
        for s in splits
    }
    report = FolderReport(listing.root, listing.split_layout, list(listing.classes), counts)
    for path, r in zip(paths, results, strict=True):
        if isinstance(r, str):
            report.unreadable.append((path, r))
        else:
            fmt, mode, size = r
            report.formats[fmt] += 1
            report.modes[mode] += 1
            report.sizes[size] += 1
    return report
