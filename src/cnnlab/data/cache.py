"""The decoded-image cache: one ``.npz`` per (dataset folder, image size, colour mode).

A cache file holds the decoded images of every readable file of a :class:`~cnnlab.data.folder.Listing`
plus the list of unreadable ones, and the key it was built for: a SHA-256 of the format version, the
target size and mode, and every file's path, size and modification time (ns). A file whose key differs
(a file added, removed, replaced or touched) is stale and rebuilt; a file that cannot be read back
(truncated, garbage, wrong arrays) is deleted and rebuilt — a cache is never trusted beyond its key.
Files are written atomically (a temporary file in the same folder, then ``os.replace``) with
``allow_pickle=False`` on both sides.

The cache directory is ``$CNNLAB_CACHE`` or ``~/.cache/cnnlab``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.data.folder import Listing

#: Bump when the decoding changes, so old caches are rebuilt.
CACHE_VERSION = 1


def cache_dir() -> Path:
    """``$CNNLAB_CACHE`` if set (and not empty), else ``~/.cache/cnnlab``."""
    env = os.environ.get("CNNLAB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cnnlab"


@dataclass(frozen=True)
class Decoded:
    """The decoded contents of a listing: ``images[i]`` is the i-th readable file of the listing."""

    images: np.ndarray  # (M, S, S, C) uint8
    ok: np.ndarray  # (len(listing.files),) bool: which files are in ``images``
    skipped: list[tuple[str, str]]  # (path, reason) of the others


def cache_key(listing: Listing, image_size: int, grayscale: bool) -> str:
    """SHA-256 (hex) of the version, the target size and mode, and each file's path, size and mtime."""
    h = hashlib.sha256(f"cnnlab-data v{CACHE_VERSION} {image_size} {'L' if grayscale else 'RGB'}\n".encode())
    for f in listing.files:
        h.update(f"{f.path}\0{f.split}\0{f.label}\0{f.size}\0{f.mtime_ns}\n".encode())
    return h.hexdigest()


def cache_path(listing: Listing, image_size: int, grayscale: bool) -> Path:
    """Where the cache of this folder at this size and mode lives (one file, overwritten when stale)."""
    where = hashlib.sha256(str(listing.root).encode()).hexdigest()[:16]
    return cache_dir() / "images" / f"{where}-{image_size}{'-gray' if grayscale else ''}.npz"


def read(path: Path, key: str, n_files: int, image_size: int, channels: int) -> Decoded | None:
    """The cached :class:`Decoded` at ``path`` if it exists and matches ``key``; else ``None``.

    A file that exists but cannot be read, or whose arrays are inconsistent, is deleted.
    """
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None  # stale: rebuilt and overwritten by the caller
            images, ok = z["images"], z["ok"]
            skipped_paths, skipped_reasons = z["skipped_paths"], z["skipped_reasons"]
        valid = (
            images.dtype == np.uint8
            and images.shape[1:] == (image_size, image_size, channels)
            and ok.dtype == np.bool_
            and ok.shape == (n_files,)
            and images.shape[0] == int(ok.sum())
            and skipped_paths.shape == skipped_reasons.shape == (n_files - images.shape[0],)
        )
        if not valid:
            raise ValueError("inconsistent arrays")
    except Exception:  # a corrupt cache in any way at all: discard it, never trust it
        path.unlink(missing_ok=True)
        return None
    skipped = list(zip(skipped_paths.tolist(), skipped_reasons.tolist(), strict=True))
    return Decoded(images, ok, skipped)


def write(path: Path, key: str, decoded: Decoded) -> bool:
    """Write ``decoded`` to ``path`` atomically; returns False (and writes nothing) if that fails."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh,
                key=np.array(key),
                images=decoded.images,
                ok=decoded.ok,
                skipped_paths=np.array([p for p, _ in decoded.skipped], dtype=str),
                skipped_reasons=np.array([r for _, r in decoded.skipped], dtype=str),
            )
        os.replace(tmp, path)
        return True
    except OSError:  # a read-only or full disk: the load still works, it is just not cached
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        return False
