"""Reading image-folder datasets: the layout, the file listing, and decoding one image.

Layouts (classes are the sorted names of the class folders; hidden files and folders are ignored)::

    DIR/train/<class>/*  and  DIR/test/<class>/*     a given train/test split
    DIR/<class>/*                                    one pool, split later with a seed (stratified)

Decoding (:func:`load_image`) accepts JPEG (and MPO), PNG, BMP, GIF (first frame) and WebP in any mode.
Each image becomes ``(image_size, image_size, C)`` uint8 with ``C = 3`` (RGB) or ``C = 1`` (grayscale):

1. EXIF orientation is applied (a no-op for files without the tag).
2. Transparent images (``RGBA``, ``LA``, ``PA``, ``P`` with a transparent colour) are composited on
   white; 16-bit grey levels (``I;16*``, and ``I`` when a value exceeds 255) are scaled to 8 bits by
   ``round(v / 257)``, float grey levels (``F``) are rounded and clipped to ``0..255``; everything else
   goes through Pillow's ``convert("RGB")`` / ``convert("L")`` (ITU-R 601-2 luma).
3. The image is resized to ``image_size x image_size`` with Pillow's ``BILINEAR`` filter, which
   Pillow applies with antialiasing (its support widens with the scale factor) — exactly what the
   lab's ``torchvision.transforms.Resize((64, 64))`` does to a PIL image, so the Kaggle photos decode
   to the same bytes as in the lab. JPEGs at least 4x larger than the target on both sides are first
   decoded at a reduced scale (Pillow's ``draft``: 1/2, 1/4 or 1/8 in the DCT) that keeps them at
   least 4x larger than the target, which makes large photos several times faster to read.

A decompression bomb (more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels) is refused without decoding.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnlab.errors import DataError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

#: Pillow formats the reader accepts (Pillow's JPEG decoder also opens camera MPO files, as "MPO").
FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP")

#: JPEGs this many times larger than the target on both sides are decoded with ``draft``.
DRAFT_FACTOR = 4

LAYOUT_HELP = "expected DIR/train/<class>/* and DIR/test/<class>/*, or DIR/<class>/*"


@dataclass(frozen=True)
class FileEntry:
    """One file of a dataset: where it is, which split and class it belongs to, its size and mtime."""

    path: str
    split: str  # "train", "test", or "" for a flat layout
    label: int
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Listing:
    """What :func:`scan` found: the layout, the classes and the files in a fixed order."""

    root: Path
    split_layout: bool  # True for DIR/train + DIR/test, False for a flat DIR/<class>
    classes: list[str]
    files: list[FileEntry]  # sorted by (split, label, file name)
    skipped: list[tuple[str, str]] = ()  # (path, reason): odd names, symlink loops, unreadable entries


def printable(path: str | os.PathLike) -> str:
    """``path`` as text that can be printed and written to JSON: undecodable bytes as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _visible_entries(directory: Path, skipped: list[tuple[str, str]]) -> list[os.DirEntry]:
    """The non-hidden entries of ``directory`` whose names are valid UTF-8; the others go to ``skipped``."""
    try:
        with os.scandir(directory) as it:
            entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as exc:
        raise DataError(
            f"cannot list {printable(directory)} ({exc.strerror or exc}); expected a readable folder"
        ) from None
    good = []
    for e in entries:
        try:
            e.name.encode("utf-8")
        except UnicodeEncodeError:
            skipped.append((printable(e.path), "file name is not valid UTF-8"))
            continue
        good.append(e)
    return good


def _kind(e: os.DirEntry, skipped: list[tuple[str, str]]) -> str:
    """``"dir"``, ``"file"`` or ``""`` (anything else); a symlink loop or an unreadable entry is skipped."""
    try:
        if e.is_dir():
            return "dir"
        if e.is_file():
            e.stat()
            return "file"
    except OSError as exc:
        skipped.append((printable(e.path), exc.strerror or type(exc).__name__))
    return ""


def _class_dirs(directory: Path, skipped: list[tuple[str, str]]) -> list[str]:
    return [e.name for e in _visible_entries(directory, skipped) if _kind(e, skipped) == "dir"]


def _files_of(directory: Path, split: str, label: int, skipped: list[tuple[str, str]]) -> list[FileEntry]:
    files = []
    for e in _visible_entries(directory, skipped):
        if _kind(e, skipped) == "file":
            st = e.stat()
            files.append(FileEntry(os.path.join(directory, e.name), split, label, st.st_size, st.st_mtime_ns))
    if not files:
        raise DataError(f"class folder {directory} is empty; expected image files in it")
    return files


def fingerprint(listing: Listing) -> dict[str, int | str]:
    """The data's identity for ``--resume``: SHA-256 of every file's path (relative to the root) and size.

    ``{"sha256": hex, "files": count, "bytes": total size}``; adding, removing, renaming or resizing a
    file changes it, touching one does not.
    """
    import hashlib

    h = hashlib.sha256()
    total = 0
    for f in sorted(listing.files, key=lambda f: f.path):
        h.update(f"{os.path.relpath(f.path, listing.root)}\t{f.size}\n".encode())
        total += f.size
    return {"sha256": h.hexdigest(), "files": len(listing.files), "bytes": total}


def scan(root: str | os.PathLike) -> Listing:
    """Find the layout, classes and files under ``root`` (no image is opened).

    Raises :class:`DataError` for a missing directory, no class folders, a single class, an empty class
    folder, or train/test folders whose class names differ.
    """
    root = Path(root).expanduser().absolute()
    if not root.exists():
        raise DataError(f"data directory {root} does not exist; {LAYOUT_HELP}")
    if not root.is_dir():
        raise DataError(f"data path {root} is not a directory; {LAYOUT_HELP}")
    skipped: list[tuple[str, str]] = []
    has_train, has_test = (root / "train").is_dir(), (root / "test").is_dir()
    if has_train != has_test:
        present, missing = ("train", "test") if has_train else ("test", "train")
        raise DataError(f"{root} has a {present}/ folder but no {missing}/ folder; {LAYOUT_HELP}")
    if has_train:
        train_classes = _class_dirs(root / "train", skipped)
        test_classes = _class_dirs(root / "test", skipped)
        if not train_classes and not test_classes:
            raise DataError(f"no class folders in {root}/train or {root}/test; {LAYOUT_HELP}")
        if train_classes != test_classes:
            raise DataError(
                f"class folders differ between {root}/train {train_classes} and {root}/test {test_classes};"
                " expected the same class names in both"
            )
        classes = train_classes
        splits = ["train", "test"]
    else:
        classes = _class_dirs(root, skipped)
        if not classes:
            raise DataError(f"no class folders in {root}; {LAYOUT_HELP}")
        splits = [""]
    if len(classes) < 2:
        raise DataError(f"found one class folder ({classes[0]}) in {root}; expected at least two classes")
    files = [
        f
        for split in splits
        for label, name in enumerate(classes)
        for f in _files_of(root / split / name if split else root / name, split, label, skipped)
    ]
    return Listing(root, has_train, classes, files, sorted(set(skipped)))


def _to_mode(im, grayscale: bool):
    """``im`` as an 8-bit ``"L"`` or ``"RGB"`` Pillow image (see the module docstring, step 2)."""
    from PIL import Image

    target = "L" if grayscale else "RGB"
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        if im.mode != "F":
            a = a / 257.0 if im.mode != "I" or a.max(initial=0) > 255 else a
        im = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
    elif im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        im.mode in ("P", "L", "RGB") and "transparency" in im.info
    ):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return im if im.mode == target else im.convert(target)


def _register_plugins() -> None:
    """Import the decoders of :data:`FORMATS` (Pillow registers most plugins lazily)."""
    from PIL import (  # noqa: F401
        BmpImagePlugin,
        GifImagePlugin,
        JpegImagePlugin,
        PngImagePlugin,
        WebPImagePlugin,
    )


@contextlib.contextmanager
def quiet_bomb_warnings() -> Iterator[None]:
    """Silence Pillow's ``DecompressionBombWarning`` (:func:`open_image` refuses those images itself).

    Warning filters are global to the process and ``catch_warnings`` is not thread-safe, so this acts
    only in the main thread; wrap a whole thread pool in it, not each task.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from PIL import Image

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        yield


def _image_error(path: str | os.PathLike, exc: BaseException) -> DataError:
    """The one-line :class:`DataError` for an exception Pillow raised on ``path``."""
    from PIL import Image

    if isinstance(exc, Image.DecompressionBombError):
        return DataError(f"{path}: refused as a possible decompression bomb ({_first_line(exc)})")
    if isinstance(exc, Image.UnidentifiedImageError):
        return DataError(f"{path}: not a JPEG, PNG, BMP, GIF or WebP image")
    if isinstance(exc, FileNotFoundError):
        return DataError(f"{path}: no such file")
    return DataError(f"{path}: unreadable image ({type(exc).__name__}: {_first_line(exc)})")


_PIL_ERRORS = (OSError, ValueError, SyntaxError, EOFError, MemoryError)


def open_image(path: str | os.PathLike) -> PILImage:
    """Open ``path`` with Pillow (header only) if it is a JPEG/PNG/BMP/GIF/WebP image of at most
    ``PIL.Image.MAX_IMAGE_PIXELS`` pixels; otherwise raise a one-line :class:`DataError`."""
    from PIL import Image

    _register_plugins()
    try:
        im = Image.open(path, formats=FORMATS)
    except (Image.DecompressionBombError, *_PIL_ERRORS) as exc:  # UnidentifiedImageError is an OSError
        raise _image_error(path, exc) from None
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and im.width * im.height > limit:
        im.close()
        raise DataError(
            f"{path}: refused as a possible decompression bomb ({im.width}x{im.height} pixels, more than"
            f" PIL.Image.MAX_IMAGE_PIXELS = {limit})"
        )
    return im


def load_image(path: str | os.PathLike, image_size: int, grayscale: bool = False) -> np.ndarray:
    """Decode one image file to ``(image_size, image_size, C)`` uint8, ``C = 1`` if ``grayscale`` else 3.

    See the module docstring for the conversions and the resize. Raises :class:`DataError` (one line
    naming the file) for a missing file, a file that is not a JPEG/PNG/BMP/GIF/WebP image, a corrupt or
    truncated image, or a decompression bomb.
    """
    from PIL import Image, ImageOps

    if not isinstance(image_size, int | np.integer) or isinstance(image_size, bool) or image_size < 1:
        raise DataError(f"image_size must be a positive integer, got {image_size!r}")
    with quiet_bomb_warnings():
        im = open_image(path)
    try:
        with im:
            if im.format in ("JPEG", "MPO") and min(im.size) >= DRAFT_FACTOR * image_size:
                im.draft("L" if grayscale else "RGB", (DRAFT_FACTOR * image_size,) * 2)
            im.load()
            out = ImageOps.exif_transpose(im) or im
            out = _to_mode(out, grayscale)
            if out.size != (image_size, image_size):
                out = out.resize((image_size, image_size), Image.BILINEAR)
            a = np.asarray(out, dtype=np.uint8)
    except _PIL_ERRORS as exc:
        raise _image_error(path, exc) from None
    return a[:, :, None] if a.ndim == 2 else a


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no details"


def _load_or_reason(path: str, image_size: int, grayscale: bool) -> np.ndarray | str:
    try:
        return load_image(path, image_size, grayscale)
    except DataError as exc:
        return str(exc).removeprefix(f"{path}: ")


def decode_many(
    paths: Sequence[str], image_size: int, grayscale: bool = False, workers: int | None = None
) -> tuple[np.ndarray, list[tuple[str, str]], np.ndarray]:
    """Decode ``paths`` in parallel; unreadable files are skipped, not fatal.

    Pillow releases the GIL while it decodes and resizes, so a thread pool scales across cores without
    the start-up cost of processes. Returns ``(images (M, S, S, C) uint8, skipped [(path, reason)],
    ok (len(paths),) bool)`` where ``images`` holds the readable files in the order of ``paths``.
    """
    channels = 1 if grayscale else 3
    _register_plugins()
    if workers is None:
        workers = min(8, os.cpu_count() or 1)
    if workers > 1 and len(paths) >= 64:
        from concurrent.futures import ThreadPoolExecutor

        with quiet_bomb_warnings(), ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda p: _load_or_reason(p, image_size, grayscale), paths))
    else:
        results = [_load_or_reason(p, image_size, grayscale) for p in paths]
    ok = np.array([not isinstance(r, str) for r in results], dtype=bool)
    images = np.zeros((int(ok.sum()), image_size, image_size, channels), dtype=np.uint8)
    skipped = []
    i = 0
    for path, r in zip(paths, results, strict=True):
        if isinstance(r, str):
            skipped.append((path, r))
        else:
            images[i] = r
            i += 1
    return images, skipped, ok
