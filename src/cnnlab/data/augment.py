"""Training-time augmentation, written once for both backends: flip, padded random crop, random resized
crop, colour jitter.

For each image ``n`` of a uint8 batch ``(N, H, W, C)``, with parameters drawn from one seeded
``numpy.random.Generator``:

1. **Random crop with reflect padding**: the image is padded by ``pad`` pixels on every side by
   reflection (``numpy.pad(mode="reflect")``, the edge pixel not repeated) and an ``H x W`` window is
   cut at offsets ``(pad + sy, pad + sx)`` with shifts ``sy, sx ~ U{-pad..pad}``.
2. **Horizontal flip** of the crop with probability ``flip_p``.

   Together: output pixel ``(i, j)`` is input pixel ``(r_H(i + sy), r_W(j' + sx))`` with
   ``j' = W - 1 - j`` if flipped else ``j``, and ``r_n`` the reflection into ``0..n-1`` — which is how
   it is computed: one gather, no padded copy.
3. **Random resized crop** (when ``scale`` is not ``(1, 1)``): a box covering a fraction
   ``a ~ U[scale]`` of the image's area with aspect ratio ``r`` (``log r ~ U[log ratio]``) — side
   fractions ``fx = min(sqrt(a r), 1)``, ``fy = min(sqrt(a / r), 1)`` — centred at ``(cx, cy) ~
   U[-(1 - f), 1 - f]`` in ``[-1, 1]`` image coordinates, is resized back to ``H x W`` by bilinear
   interpolation. Output column ``j`` samples input column ``u = ((fx * x_j + cx + 1) * W - 1) / 2``
   with ``x_j = (2 j + 1) / W - 1`` (PyTorch's ``affine_grid``/``grid_sample``, ``align_corners=False``),
   clamped to ``[0, W - 1]``; rows alike. (torchvision's ``RandomResizedCrop`` redraws a box that does
   not fit; this one clamps its sides.)
4. **Colour jitter** (RGB; grayscale gets brightness and contrast): factors ``b, c, s ~ U[1 - j, 1 + j]``
   for brightness, contrast and saturation, applied as one affine map per image::

       y = b * c * (s * x + (1 - s) * gray(x))  +  (1 - c) * b * mean(gray(x))

   where ``gray(x) = 0.299 R + 0.587 G + 0.114 B`` (ITU-R 601-2, per pixel) and ``mean`` is over the
   image — torchvision's ``ColorJitter(j, j, j)`` brightness, contrast, saturation in that order, but
   composed before rounding, so it is rounded and clipped to ``[0, 255]`` once.

The whole batch is processed with array operations (no Python loop over images).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab.errors import DataError

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _reflect(idx: np.ndarray, n: int) -> np.ndarray:
    """Indices ``idx`` (may lie in ``[-(n-1), 2n-2]``) reflected into ``0..n-1`` (edge not repeated)."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.abs(idx) % period
    return np.where(idx >= n, period - idx, idx)


@dataclass(frozen=True)
class AugmentParams:
    """Per-image parameters of one augmented batch of ``N`` images (all arrays ``(N,)``).

    ``shift_y, shift_x`` in ``[-pad, pad]`` are the crop offsets relative to the unpadded image
    (``dy - pad``); ``brightness, contrast, saturation`` are the jitter factors (1 = unchanged);
    ``box`` is ``None`` or the resized crops' ``(fy, fx, cy, cx)``, each ``(N,)`` float64 (see the
    module docstring; ``fy = fx = 1, cy = cx = 0`` is the whole image).
    """

    flip: np.ndarray  # bool
    shift_y: np.ndarray  # int64
    shift_x: np.ndarray  # int64
    brightness: np.ndarray  # float32
    contrast: np.ndarray  # float32
    saturation: np.ndarray  # float32
    box: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None


def augment(images: np.ndarray, params: AugmentParams) -> np.ndarray:
    """Apply ``params`` to ``images (N, H, W, C)`` uint8 (C = 1 or 3): flip, reflect-padded crop, jitter.

    Returns a new ``(N, H, W, C)`` uint8 array; see the module docstring for the formulas.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise DataError(
            f"augment expects uint8 images (N, H, W, C) with C = 1 or 3, got {images.dtype} {images.shape}"
        )
    n, h, w, c = images.shape
    if params.flip.shape != (n,):
        raise DataError(f"augment: parameters for {params.flip.shape[0]} images, but the batch has {n}")
    if n == 0:
        return images.copy()
    if np.abs(params.shift_y).max() >= h or np.abs(params.shift_x).max() >= w:
        raise DataError(f"augment: crop shifts must be smaller than the image size {h}x{w}")
    rows = _reflect(np.arange(h)[None, :] + params.shift_y[:, None], h)  # (N, H)
    cols = np.where(params.flip[:, None], np.arange(w - 1, -1, -1)[None, :], np.arange(w)[None, :])
    cols = _reflect(cols + params.shift_x[:, None], w)  # (N, W)
    # Flip and crop as one gather: flat pixel index n*H*W + row*W + col.
    rows = rows * w + (np.arange(n) * (h * w))[:, None]
    flat = (rows[:, :, None] + cols[:, None, :]).reshape(-1)
    out = images.reshape(n * h * w, c).take(flat, axis=0).reshape(n, h, w, c)
    if params.box is not None:
        out = _resized_crop(out, *params.box)  # float32 from here on; rounded once at the end
    b, con, s = (
        np.asarray(a, dtype=np.float32) for a in (params.brightness, params.contrast, params.saturation)
    )
    if np.all(b == 1) and np.all(con == 1) and np.all(s == 1):
        return out if out.dtype == np.uint8 else _to_uint8(out)
    return _jitter(out, b, con, s)


def _sample_at(fraction: np.ndarray, centre: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For ``n`` output positions along one axis of each image: the two input indices to interpolate
    between and the weight of the second, ``(i0, i1, t)`` each ``(N, n)`` (module docstring, step 3)."""
    x = (2.0 * np.arange(n) + 1.0) / n - 1.0
    u = ((fraction[:, None] * x[None, :] + centre[:, None] + 1.0) * n - 1.0) / 2.0
    u = np.clip(u, 0.0, n - 1.0)
    i0 = np.floor(u).astype(np.int64)
    i1 = np.minimum(i0 + 1, n - 1)
    return i0, i1, (u - i0).astype(np.float32)


def _resized_crop(
    x: np.ndarray, fy: np.ndarray, fx: np.ndarray, cy: np.ndarray, cx: np.ndarray
) -> np.ndarray:
    """Bilinear resize of each image's box back to full size: rows, then columns (separable)."""
    n, h, w, _ = x.shape
    r0, r1, ty = _sample_at(fy, cy, h)
    c0, c1, tx = _sample_at(fx, cx, w)
    xf = x.astype(np.float32, copy=False)
    rows = np.arange(n)[:, None]
    top, bottom = xf[rows, r0], xf[rows, r1]  # (N, H, W, C)
    y = top + ty[:, :, None, None] * (bottom - top)
    left, right = y[rows, :, c0], y[rows, :, c1]  # advanced indices first: (N, W, H, C)
    z = left + tx[:, :, None, None] * (right - left)
    return np.ascontiguousarray(z.transpose(0, 2, 1, 3))


def _to_uint8(y: np.ndarray) -> np.ndarray:
    y = y + np.float32(0.5)
    np.clip(y, 0.0, 255.0, out=y)
    return y.astype(np.uint8)  # floor(y + 0.5): rounds half up


def _jitter(x: np.ndarray, b: np.ndarray, con: np.ndarray, s: np.ndarray) -> np.ndarray:
    n, h, w, c = x.shape
    y = x.reshape(n, h * w, c).astype(np.float32)
    gray = y @ _LUMA if c == 3 else y[:, :, 0].copy()  # (N, HW)
    offset = (1.0 - con) * b * gray.mean(axis=1, dtype=np.float64).astype(np.float32)  # (N,)
    bc = b * con
    if c == 3:  # in place: a few passes over the batch, no large temporaries
        y *= (bc * s)[:, None, None]
        gray *= (bc * (1.0 - s))[:, None]
        gray += (offset + np.float32(0.5))[:, None]
        y += gray[:, :, None]
    else:
        y *= bc[:, None, None]
        y += (offset + np.float32(0.5))[:, None, None]
    np.clip(y, 0.0, 255.0, out=y)
    return y.astype(np.uint8).reshape(n, h, w, c)  # floor(y + 0.5): rounds half up


class Augmenter:
    """Seeded random augmentation of uint8 NHWC batches: ``Augmenter(seed)(images) -> images``.

    Parameters
    ----------
    seed:
        Seed of the generator; the same seed and the same sequence of calls give the same outputs.
    flip_p:
        Probability of a horizontal flip.
    pad:
        Reflect padding of the random crop (``0``: no crop); must be smaller than the image's sides.
    jitter:
        Half-width ``j`` of the brightness/contrast/saturation factors ``U[1 - j, 1 + j]`` (``0``: off).
    scale, ratio:
        The random resized crop's area fraction and aspect-ratio ranges, as torchvision's
        ``RandomResizedCrop(scale, ratio)``; ``scale=(1, 1)`` (the default) turns it off.
    """

    def __init__(
        self,
        seed: int | None = None,
        flip_p: float = 0.5,
        pad: int = 4,
        jitter: float = 0.2,
        scale: tuple[float, float] = (1.0, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
    ):
        if not 0.0 <= flip_p <= 1.0:
            raise DataError(f"flip_p must be in [0, 1], got {flip_p}")
        if pad < 0:
            raise DataError(f"pad must be >= 0, got {pad}")
        if not 0.0 <= jitter < 1.0:
            raise DataError(f"jitter must be in [0, 1), got {jitter}")
        lo, hi = (float(v) for v in scale)
        if not 0.0 < lo <= hi <= 1.0:
            raise DataError(f"scale must satisfy 0 < low <= high <= 1, got {tuple(scale)}")
        r_lo, r_hi = (float(v) for v in ratio)
        if not 0.0 < r_lo <= r_hi:
            raise DataError(f"ratio must satisfy 0 < low <= high, got {tuple(ratio)}")
        self.rng = np.random.default_rng(seed)
        self.flip_p, self.pad, self.jitter = float(flip_p), int(pad), float(jitter)
        self.scale, self.ratio = (lo, hi), (r_lo, r_hi)

    def sample(self, n: int) -> AugmentParams:
        """Draw the parameters of the next ``n`` images from the generator."""
        rng, j = self.rng, self.jitter
        flip = rng.random(n) < self.flip_p
        shift_y, shift_x = rng.integers(-self.pad, self.pad + 1, size=(2, n))
        b, con, s = rng.uniform(1.0 - j, 1.0 + j, size=(3, n)).astype(np.float32)
        box = None
        if self.scale != (1.0, 1.0):  # drawn only when on, so the other draws do not depend on it
            area = rng.uniform(*self.scale, size=n)
            aspect = np.exp(rng.uniform(np.log(self.ratio[0]), np.log(self.ratio[1]), size=n))
            fx, fy = np.minimum(np.sqrt(area * aspect), 1.0), np.minimum(np.sqrt(area / aspect), 1.0)
            cy, cx = rng.uniform(-1.0, 1.0, size=(2, n)) * np.stack([1.0 - fy, 1.0 - fx])
            box = (fy, fx, cy, cx)
        return AugmentParams(flip, shift_y, shift_x, b, con, s, box)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Augment ``images (N, H, W, C)`` uint8 (C = 1 or 3); returns a new ``(N, H, W, C)`` uint8 array."""
        images = np.asarray(images)
        if images.ndim == 4 and self.pad > 0 and self.pad >= min(images.shape[1:3]):
            raise DataError(
                f"Augmenter pad={self.pad} must be smaller than the image size {images.shape[1:3]}"
            )
        return augment(images, self.sample(images.shape[0] if images.ndim == 4 else 0))
