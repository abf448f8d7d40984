"""Training-time augmentation, written once for both backends: flip, padded random crop, colour jitter.

For each image ``n`` of a uint8 batch ``(N, H, W, C)``, with parameters drawn from one seeded
``numpy.random.Generator``:

1. **Horizontal flip** with probability ``flip_p``.
2. **Random crop with reflect padding**: the image is padded by ``pad`` pixels on every side by
   reflection (``numpy.pad(mode="reflect")``, the edge pixel not repeated) and an ``H x W`` window is
   cut at offsets ``dy, dx ~ U{0..2*pad}``. Equivalently, output pixel ``(i, j)`` reads input pixel
   ``(r(i + dy - pad), r(j + dx - pad))`` with ``r`` the reflection — which is how it is computed:
   flip and crop are one gather, no padded copy is made.
3. **Colour jitter** (RGB; grayscale gets brightness and contrast): factors ``b, c, s ~ U[1 - j, 1 + j]``
   for brightness, contrast and saturation, applied as one affine map per image::

       y = b * c * (s * x + (1 - s) * gray(x))  +  (1 - c) * b * mean(gray(x))

   where ``gray(x) = 0.299 R + 0.587 G + 0.114 B`` (ITU-R 601-2, per pixel) and ``mean`` is over the
   image — torchvision's ``ColorJitter(j, j, j)`` brightness, contrast, saturation in that order, but
   composed before rounding, so it is rounded and clipped to ``[0, 255]`` once.

The whole batch is processed with array operations (no Python loop over images).
"""

from __future__ import annotations

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


class Augmenter:
    """Seeded random augmentation of uint8 NHWC batches: ``Augmenter(seed)(images) -> images``.

    Parameters
    ----------
    seed:
        Seed of the generator; the same seed and the same sequence of calls give the same outputs.
    flip_p:
        Probability of a horizontal flip.
    pad:
        Reflect padding of the random crop (``0`` disables the crop); must be smaller than H and W.
    jitter:
        Half-width ``j`` of the brightness/contrast/saturation factors ``U[1 - j, 1 + j]`` (``0``: off).
    """

    def __init__(self, seed: int | None = None, flip_p: float = 0.5, pad: int = 4, jitter: float = 0.2):
        if not 0.0 <= flip_p <= 1.0:
            raise DataError(f"flip_p must be in [0, 1], got {flip_p}")
        if pad < 0:
            raise DataError(f"pad must be >= 0, got {pad}")
        if not 0.0 <= jitter < 1.0:
            raise DataError(f"jitter must be in [0, 1), got {jitter}")
        self.rng = np.random.default_rng(seed)
        self.flip_p, self.pad, self.jitter = flip_p, int(pad), float(jitter)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Augment ``images (N, H, W, C)`` uint8 (C = 1 or 3); returns a new ``(N, H, W, C)`` uint8 array."""
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise DataError(
                "Augmenter expects uint8 images (N, H, W, C) with C = 1 or 3,"
                f" got {images.dtype} with shape {images.shape}"
            )
        n, h, w, c = images.shape
        if self.pad >= min(h, w) and self.pad > 0:
            raise DataError(f"Augmenter pad={self.pad} must be smaller than the image size {h}x{w}")
        rng = self.rng
        flip = rng.random(n) < self.flip_p
        dy = rng.integers(0, 2 * self.pad + 1, size=n)
        dx = rng.integers(0, 2 * self.pad + 1, size=n)
        rows = _reflect(np.arange(h)[None, :] + (dy - self.pad)[:, None], h)  # (N, H)
        cols = np.where(flip[:, None], np.arange(w - 1, -1, -1)[None, :], np.arange(w)[None, :])
        cols = _reflect(cols + (dx - self.pad)[:, None], w)  # (N, W)
        # One gather: flat pixel index n*H*W + row*W + col.
        flat = (np.arange(n)[:, None, None] * (h * w) + rows[:, :, None] * w + cols[:, None, :]).reshape(-1)
        out = images.reshape(n * h * w, c).take(flat, axis=0).reshape(n, h, w, c)
        if self.jitter == 0.0:
            return out
        return self._jitter(out, rng)

    def _jitter(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, h, w, c = x.shape
        lo, hi = 1.0 - self.jitter, 1.0 + self.jitter
        b, con, s = (rng.uniform(lo, hi, size=n).astype(np.float32) for _ in range(3))
        y = x.reshape(n, h * w, c).astype(np.float32)
        gray = y @ _LUMA if c == 3 else y[:, :, 0].copy()  # (N, HW)
        offset = (1.0 - con) * b * gray.mean(axis=1, dtype=np.float64).astype(np.float32)  # (N,)
        bc = b * con
        if c == 3:  # in place: few passes over the batch, no large temporaries
            y *= (bc * s)[:, None, None]
            gray *= (bc * (1.0 - s))[:, None]
            gray += (offset + np.float32(0.5))[:, None]
            y += gray[:, :, None]
        else:
            y *= bc[:, None, None]
            y += (offset + np.float32(0.5))[:, None, None]
        np.clip(y, 0.0, 255.0, out=y)
        return y.astype(np.uint8).reshape(n, h, w, c)  # floor(y + 0.5): rounds half up
