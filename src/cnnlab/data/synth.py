"""The built-in dataset: procedural cartoon cat and dog faces, deterministic for a seed.

Every picture is drawn by :func:`render` from ``(label, seed)`` alone (label 0 = cat, 1 = dog), with
Pillow's polygon drawing on a canvas ``SUPERSAMPLE`` times larger than the output and a box-filter
reduction (anti-aliasing). A face is drawn in its own coordinates (head radius 1, y pointing down),
then scaled, rotated and placed at random, over a random gradient background with clutter, and the
result gets random brightness, contrast and Gaussian noise.

What tells the classes apart, and what blurs the line on purpose:

=================  ===================================  =====================================
feature            cat                                  dog
=================  ===================================  =====================================
ears               pointed triangles with pink insides  floppy, hanging at the sides
                   (folded, rounded ears: 10 %)         (upright rounded ears: 15 %)
eyes               almond, coloured iris, slit pupil    round and dark with a highlight
                   (round pupil: 25 %)
nose and mouth     small triangle nose, whiskers        a light snout, a big black nose,
                   (no whiskers: 15 %)                  often a tongue (whisker dots: 20 %)
head               slightly wide                        slightly long
markings           tabby stripes (40 %)                 a patch over one eye (35 %)
=================  ===================================  =====================================

Colours come from one shared fur palette, so colour alone says nothing; the background clutter
contains triangles and dark dots too; a quarter of the faces are partly hidden by an occluder or cut
by the image border.

:func:`write_dataset` writes ``DIR/{train,test}/{cats,dogs}/*.png`` (the Kaggle layout, so the same
reader loads it); image ``i`` of class ``label`` in split ``s`` is ``render(label, image_seed(seed, s,
label, i))``, so the files do not depend on the order or the number of workers that draw them.
:func:`builtin_root` generates the default set once into the cache directory, atomically.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from cnnlab.errors import DataError

CLASSES = ("cats", "dogs")
SUPERSAMPLE = 3
#: The built-in dataset: seed, images per class in each split, and side in pixels.
BUILTIN_SEED = 2023
BUILTIN_COUNTS = {"train": 400, "test": 100}
BUILTIN_SIZE = 64
#: Bump when :func:`render` changes, so a cached built-in dataset is regenerated.
VERSION = 2

_SPLIT_IDS = {"train": 0, "test": 1}

# Fur colours shared by both classes (RGB).
_FUR = np.array(
    [
        [230, 140, 50],  # ginger
        [150, 150, 155],  # grey
        [45, 40, 40],  # black
        [240, 235, 225],  # white
        [130, 85, 45],  # brown
        [235, 210, 160],  # cream
        [200, 160, 100],  # tan
        [95, 70, 55],  # dark brown
        [180, 120, 70],  # fawn
    ],
    dtype=np.float64,
)


def image_seed(seed: int, split: str, label: int, index: int) -> int:
    """The :func:`render` seed of image ``index`` of class ``label`` in ``split`` of dataset ``seed``."""
    state = np.random.SeedSequence([seed, _SPLIT_IDS[split], label, index]).generate_state(2, np.uint32)
    return int(state[0]) << 32 | int(state[1])


class _Painter:
    """Draws polygons given in face coordinates (radius 1, y down) onto a supersampled canvas."""

    def __init__(self, draw, center: np.ndarray, scale: float, angle: float):
        self.draw = draw
        c, s = math.cos(angle), math.sin(angle)
        self.m = scale * np.array([[c, -s], [s, c]])
        self.center = center

    def xy(self, pts: np.ndarray) -> list[tuple[float, float]]:
        q = pts @ self.m.T + self.center
        return [tuple(p) for p in q.tolist()]

    def poly(self, pts: np.ndarray, fill) -> None:
        self.draw.polygon(self.xy(pts), fill=_rgb(fill))

    def ellipse(self, cx, cy, rx, ry, fill, rot: float = 0.0, n: int = 28) -> None:
        self.poly(_ellipse(cx, cy, rx, ry, rot, n), fill)

    def line(self, pts: np.ndarray, fill, width: float) -> None:
        w = max(1, round(width * np.linalg.norm(self.m[0])))
        self.draw.line(self.xy(pts), fill=_rgb(fill), width=w, joint="curve")


def _rgb(color) -> tuple[int, int, int]:
    r, g, b = (min(255, max(0, round(float(v)))) for v in color)
    return (r, g, b)


@functools.cache
def _circle(n: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.cos(t), np.sin(t)


def _ellipse(cx, cy, rx, ry, rot=0.0, n=28) -> np.ndarray:
    """``n`` points of the ellipse with centre ``(cx, cy)``, semi-axes ``rx, ry``, rotated by ``rot``."""
    cos_t, sin_t = _circle(n)
    x, y = rx * cos_t, ry * sin_t
    c, s = math.cos(rot), math.sin(rot)
    out = np.empty((n, 2))
    out[:, 0] = cx + c * x - s * y
    out[:, 1] = cy + s * x + c * y
    return out


def _mix(a, b, t: float) -> np.ndarray:
    return (1.0 - t) * np.asarray(a, dtype=np.float64) + t * np.asarray(b, dtype=np.float64)


def _random_color(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, size=3)


def _background(rng: np.random.Generator, side: int):
    """A random two-colour linear gradient with random clutter, as a Pillow RGB image."""
    from PIL import Image, ImageDraw

    c0, c1 = _random_color(rng), _random_color(rng)
    if rng.random() < 0.5:  # muted backgrounds are common
        c0, c1 = _mix(c0, [128, 128, 128], 0.5), _mix(c1, [128, 128, 128], 0.5)
    theta = rng.uniform(0, 2 * np.pi)
    small = side // SUPERSAMPLE  # a smooth gradient: drawn small, enlarged bilinearly
    g = np.linspace(-1.0, 1.0, small)
    t = (math.cos(theta) * g[None, :] + math.sin(theta) * g[:, None]) * 0.5 + 0.5
    img = c0[None, None, :] * (1 - t[:, :, None]) + c1[None, None, :] * t[:, :, None]
    image = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB").resize((side, side), Image.BILINEAR)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(2, 8)):
        _clutter(draw, rng, side, rng.random() < 0.5)
    return image, draw


def _clutter(draw, rng: np.random.Generator, side: int, small: bool) -> None:
    """One random shape: an ellipse, a box, a triangle, a stroke, or a dark dot."""
    color = _rgb(_random_color(rng))
    cx, cy = rng.uniform(0, side, size=2)
    r = side * (rng.uniform(0.03, 0.09) if small else rng.uniform(0.1, 0.3))
    kind = rng.integers(5)
    if kind == 0:
        pts = _ellipse(cx, cy, r, r * rng.uniform(0.4, 1.0), rng.uniform(0, np.pi), 20)
        draw.polygon([tuple(p) for p in pts.tolist()], fill=color)
    elif kind == 1:
        a = rng.uniform(0, np.pi)
        pts = _ellipse(cx, cy, r, r * rng.uniform(0.3, 1.0), a, 4)
        draw.polygon([tuple(p) for p in pts.tolist()], fill=color)
    elif kind == 2:
        a = rng.uniform(0, 2 * np.pi) + np.array([0, 2.1, 4.2]) + rng.uniform(-0.4, 0.4, 3)
        pts = np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], axis=1)
        draw.polygon([tuple(p) for p in pts.tolist()], fill=color)
    elif kind == 3:
        a = rng.uniform(0, np.pi)
        d = r * np.array([math.cos(a), math.sin(a)])
        draw.line([(cx - d[0], cy - d[1]), (cx + d[0], cy + d[1])], fill=color, width=int(rng.integers(2, 7)))
    else:
        rr = side * rng.uniform(0.015, 0.04)
        pts = _ellipse(cx, cy, rr, rr, 0.0, 12)
        draw.polygon([tuple(p) for p in pts.tolist()], fill=_rgb(rng.uniform(0, 60, 3)))


def _cat(p: _Painter, rng: np.random.Generator, fur, dark, light) -> None:
    hx, hy = rng.uniform(0.95, 1.1), rng.uniform(0.82, 0.95)
    folded = rng.random() < 0.10
    for sgn in (-1.0, 1.0):
        if folded:  # small rounded ears folded forward
            p.ellipse(sgn * 0.55, -0.72, 0.26, 0.2, dark, rot=sgn * 0.5, n=16)
        else:
            base_a = math.radians(rng.uniform(30, 55))
            tip = np.array([sgn * rng.uniform(0.6, 0.95), -hy - rng.uniform(0.45, 0.8)])
            b1 = np.array([sgn * hx * math.sin(base_a - 0.45), -hy * math.cos(base_a - 0.45)])
            b2 = np.array([sgn * hx * math.sin(base_a + 0.5), -hy * math.cos(base_a + 0.5)])
            ear = np.stack([b1, tip, b2])
            p.poly(ear, fur)
            inner = ear.mean(axis=0) + 0.55 * (ear - ear.mean(axis=0)) + np.array([0.0, 0.06])
            p.poly(inner, _mix([235, 150, 160], fur, rng.uniform(0.0, 0.4)))
    p.ellipse(0.0, 0.0, hx, hy, fur, n=36)
    if rng.random() < 0.4:  # tabby stripes on the forehead
        for dx in (-0.25, 0.0, 0.25):
            x = dx + rng.uniform(-0.04, 0.04)
            p.line(np.array([[x, -hy * 0.92], [x * 1.2, -hy * 0.55]]), dark, 0.07)
    if rng.random() < 0.3:  # light muzzle
        p.ellipse(-0.17, 0.36, 0.22, 0.17, light, n=18)
        p.ellipse(0.17, 0.36, 0.22, 0.17, light, n=18)
    iris = [(110, 190, 60), (230, 190, 40), (200, 130, 40), (90, 160, 210)][rng.integers(4)]
    round_pupil = rng.random() < 0.25
    ey, ex = rng.uniform(-0.2, -0.05), rng.uniform(0.33, 0.45)
    for sgn in (-1.0, 1.0):
        p.ellipse(sgn * ex, ey, 0.2, 0.13, iris, rot=sgn * 0.25, n=20)
        if round_pupil:
            p.ellipse(sgn * ex, ey, 0.08, 0.09, (15, 15, 15), n=14)
        else:
            p.ellipse(sgn * ex, ey, 0.035, 0.12, (15, 15, 15), n=12)
    ny = rng.uniform(0.2, 0.3)
    nose = _mix([230, 120, 140], [60, 40, 40], rng.uniform(0, 1) ** 2)
    p.poly(np.array([[-0.1, ny - 0.05], [0.1, ny - 0.05], [0.0, ny + 0.06]]), nose)
    mouth = dark if rng.random() < 0.5 else (30, 30, 30)
    p.line(
        np.array(
            [[-0.16, ny + 0.17], [-0.07, ny + 0.2], [0.0, ny + 0.08], [0.07, ny + 0.2], [0.16, ny + 0.17]]
        ),
        mouth,
        0.035,
    )
    if rng.random() > 0.15:  # whiskers
        wc = (245, 245, 245) if rng.random() < 0.6 else (20, 20, 20)
        spread = rng.uniform(0.1, 0.2)
        for sgn in (-1.0, 1.0):
            for k in (-1, 0, 1):
                end = np.array(
                    [sgn * rng.uniform(1.15, 1.45), ny + 0.12 + k * spread + rng.uniform(-0.05, 0.05)]
                )
                p.line(np.array([[sgn * 0.2, ny + 0.12 + k * 0.04], end]), wc, 0.025)


def _dog(p: _Painter, rng: np.random.Generator, fur, dark, light) -> None:
    hx, hy = rng.uniform(0.82, 0.95), rng.uniform(0.95, 1.1)
    ear_color = dark if rng.random() < 0.6 else fur
    upright = rng.random() < 0.15
    if upright:  # upright, rounded ears behind the head
        for sgn in (-1.0, 1.0):
            p.ellipse(sgn * 0.55, -hy - 0.05, 0.25, 0.5, ear_color, rot=sgn * 0.35, n=20)
    p.ellipse(0.0, 0.0, hx, hy, fur, n=36)
    if rng.random() < 0.35:  # a patch over one eye
        sgn = rng.choice([-1.0, 1.0])
        p.ellipse(
            sgn * 0.38,
            -0.18,
            rng.uniform(0.25, 0.35),
            rng.uniform(0.22, 0.32),
            dark,
            rot=rng.uniform(0, 3),
            n=18,
        )
    if not upright:  # floppy ears hanging at the sides, over the head outline
        length, tilt = rng.uniform(0.55, 0.8), rng.uniform(0.05, 0.4)
        for sgn in (-1.0, 1.0):
            p.ellipse(
                sgn * (hx * 0.92),
                -0.35 + length * 0.75,
                rng.uniform(0.22, 0.32),
                length,
                ear_color,
                rot=-sgn * tilt,
                n=24,
            )
    ey, ex = rng.uniform(-0.3, -0.1), rng.uniform(0.28, 0.4)
    r = rng.uniform(0.09, 0.14)
    for sgn in (-1.0, 1.0):
        p.ellipse(sgn * ex, ey, r, r, (35, 20, 15), n=16)
        p.ellipse(sgn * ex + 0.03, ey - 0.03, r * 0.35, r * 0.35, (250, 250, 250), n=10)
    sy = rng.uniform(0.38, 0.5)
    p.ellipse(0.0, sy, rng.uniform(0.38, 0.5), rng.uniform(0.28, 0.36), light, n=28)
    if rng.random() < 0.5:  # tongue
        p.ellipse(0.0, sy + 0.32, 0.12, 0.16, (225, 90, 110), n=18)
    p.line(np.array([[-0.2, sy + 0.15], [0.0, sy + 0.2], [0.2, sy + 0.15]]), (30, 25, 25), 0.04)
    p.line(np.array([[0.0, sy + 0.0], [0.0, sy + 0.2]]), (30, 25, 25), 0.04)
    p.ellipse(0.0, sy - 0.12, rng.uniform(0.14, 0.2), rng.uniform(0.09, 0.12), (20, 18, 18), n=18)
    if rng.random() < 0.2:  # whisker dots
        for sgn in (-1.0, 1.0):
            for k in range(3):
                p.ellipse(sgn * (0.15 + 0.08 * k), sy + 0.05 + 0.05 * (k % 2), 0.02, 0.02, (40, 30, 30), n=8)


def render(label: int, seed: int, size: int = BUILTIN_SIZE) -> np.ndarray:
    """One built-in picture: ``(size, size, 3)`` uint8; ``label`` 0 = cat, 1 = dog; same seed, same image.

    ``seed`` is any non-negative integer (image ``i`` of a written dataset uses :func:`image_seed`).
    """
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    if label not in (0, 1):
        raise DataError(f"label must be 0 (cat) or 1 (dog), got {label!r}")
    if not isinstance(size, int | np.integer) or size < 8:
        raise DataError(f"size must be an integer >= 8, got {size!r}")
    rng = np.random.default_rng(seed)
    side = size * SUPERSAMPLE
    image, draw = _background(rng, side)
    fur = _mix(_FUR[rng.integers(len(_FUR))], rng.uniform(0, 255, 3), rng.uniform(0.0, 0.2))
    dark = _mix(fur, [20, 15, 10], rng.uniform(0.35, 0.7))
    light = _mix(fur, [250, 245, 235], rng.uniform(0.4, 0.8))
    scale = side * rng.uniform(0.2, 0.32)
    cut = rng.random() < 0.12  # let the face run off the border
    margin = scale * (0.6 if cut else 1.35)
    center = rng.uniform(margin, side - margin, size=2) if side > 2 * margin else np.array([side / 2] * 2)
    painter = _Painter(draw, center, scale, math.radians(rng.uniform(-28, 28)))
    (_cat if label == 0 else _dog)(painter, rng, fur, dark, light)
    if rng.random() < 0.15:  # an occluder in front of the face
        _clutter(draw, rng, side, small=False)
    out = np.asarray(image.reduce(SUPERSAMPLE), dtype=np.float32)
    contrast, brightness = rng.uniform(0.7, 1.15), rng.uniform(-25, 25)
    out = (out - 128.0) * contrast + 128.0 + brightness
    out += rng.normal(0.0, rng.uniform(0.0, 12.0), size=out.shape).astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def write_dataset(
    out_dir: str | os.PathLike,
    seed: int = BUILTIN_SEED,
    counts: dict[str, int] | None = None,
    size: int = BUILTIN_SIZE,
) -> Path:
    """Write ``out_dir/{train,test}/{cats,dogs}/{cat,dog}_NNNN.png`` and a ``synth.json`` describing them.

    ``counts`` gives images per class for each split (default :data:`BUILTIN_COUNTS`). ``out_dir`` must
    not exist or be an empty directory. Returns ``out_dir``.
    """
    from PIL import Image

    counts = dict(BUILTIN_COUNTS if counts is None else counts)
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out} already exists and is not empty; expected a new or empty directory")
    if set(counts) != set(_SPLIT_IDS) or any(not isinstance(n, int) or n < 1 for n in counts.values()):
        raise DataError(f"counts must give a positive number of images for 'train' and 'test', got {counts}")
    for split, n in counts.items():
        for label, name in enumerate(CLASSES):
            folder = out / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = render(label, image_seed(seed, split, label, i), size)
                Image.fromarray(img, "RGB").save(folder / f"{name[:-1]}_{i:04d}.png", compress_level=1)
    meta = {
        "generator": "cnnlab.data.synth",
        "version": VERSION,
        "seed": seed,
        "counts": counts,
        "size": size,
        "classes": list(CLASSES),
    }
    (out / "synth.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


def builtin_root() -> Path:
    """The built-in dataset's folder in the cache directory, generated on first use.

    Generation goes to a temporary folder beside the final one, which is then renamed into place, so
    concurrent processes never see a half-written dataset; if another process got there first, its
    copy (identical: the images depend only on the seed) is kept.
    """
    from cnnlab.data.cache import cache_dir

    final = cache_dir() / f"builtin-v{VERSION}-seed{BUILTIN_SEED}-{BUILTIN_SIZE}px"
    if (final / "synth.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".tmp-", dir=final.parent))
    try:
        write_dataset(tmp / "data", BUILTIN_SEED, BUILTIN_COUNTS, BUILTIN_SIZE)
        try:
            os.rename(tmp / "data", final)
        except OSError:  # another process renamed its copy first, or a broken folder is in the way
            if not (final / "synth.json").is_file():
                raise DataError(
                    f"{final} exists but is not a complete built-in dataset; delete it and try again"
                ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
