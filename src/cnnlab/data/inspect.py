"""What is in an image folder: classes, counts per split and class, formats, modes, sizes, bad files."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.data.folder import _PIL_ERRORS, _image_error, open_image, quiet_bomb_warnings, scan
from cnnlab.errors import DataError


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
    try:
        with open_image(path) as im:
            info = (im.format, im.mode, im.size)
            try:
                im.load()
            except _PIL_ERRORS as exc:
                raise _image_error(path, exc) from None
        return info
    except DataError as exc:
        return str(exc).removeprefix(f"{path}: ")


def inspect_folder(root: str | os.PathLike) -> FolderReport:
    """Scan ``root`` (same layouts and errors as :func:`cnnlab.data.load_dataset`) and decode every file
    once, in a thread pool, to find the unreadable ones. Counts are of files; nothing is cached."""
    from concurrent.futures import ThreadPoolExecutor

    listing = scan(root)
    paths = [f.path for f in listing.files]
    with quiet_bomb_warnings(), ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
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
    report.unreadable.extend(listing.skipped)  # odd names, symlink loops: reported like bad images
    for path, r in zip(paths, results, strict=True):
        if isinstance(r, str):
            report.unreadable.append((path, r))
        else:
            fmt, mode, size = r
            report.formats[fmt] += 1
            report.modes[mode] += 1
            report.sizes[size] += 1
    return report
