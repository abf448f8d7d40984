"""The explorer's numbers: inputs, filters, and what each panel shows, all computed by :mod:`cnnlab.ops`.

Pure functions of arrays, no Shiny: the app in :mod:`cnnlab.explore.app` calls them and tests call them
directly. The explorer works on one channel at a time (a grayscale picture or a small integer array), so
every array here is 2-D ``(n_H, n_W)``; the helpers reshape to the lab's NHWC layout
``(1, n_H, n_W, 1)`` and ``W (f, f, 1, 1)`` before calling the ops and back afterwards.

Nothing is recomputed with a second implementation: the padded input comes from ``zero_pad``, the
feature map from ``conv_forward``, each window's value from ``conv_single_step`` (the loops version, as
taught), pooling from ``pool_forward`` / ``pool_backward`` and the local backward pass from
``create_mask_from_window`` / ``distribute_value``. The only arithmetic done here is the display of the
output-size formula, whose result is checked against the shape ``conv_forward`` returned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from cnnlab import ops
from cnnlab.errors import CnnlabError
from cnnlab.ops import loops

#: Filter choices: id -> label shown in the page.
FILTERS: dict[str, str] = {
    "identity": "Identity",
    "vertical": "Vertical edges",
    "horizontal": "Horizontal edges",
    "sobel_x": "Sobel x",
    "sobel_y": "Sobel y",
    "blur": "Blur (box average)",
    "sharpen": "Sharpen",
    "random": "Random integers",
    "custom": "Custom 3×3",
}

#: Filters defined only at f = 3; the others are defined for any f.
FIXED_3X3: frozenset[str] = frozenset({"sobel_x", "sobel_y", "sharpen", "custom"})

_FIXED = {
    "sobel_x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel_y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
}

#: Uploads larger than this are refused (bytes).
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: Uploads with more pixels than this are refused before decoding (width * height).
MAX_UPLOAD_PIXELS = 40_000_000
#: Arrays up to this many rows and columns are shown as numbers; larger ones as pictures.
GRID_MAX = 24


class UploadError(CnnlabError):
    """An uploaded file the explorer cannot use (too big, not an image, corrupt)."""


# -- inputs ---------------------------------------------------------------------------------------------
def filter_kernel(name: str, f: int = 3, seed: int = 0, custom: np.ndarray | None = None) -> np.ndarray:
    """The ``(f, f)`` float64 filter called ``name`` (a key of :data:`FILTERS`).

    ``identity`` has a single 1 at ``(f // 2, f // 2)``; ``vertical`` is ``+1`` left of the centre column,
    ``0`` on it and ``-1`` right of it (the lab's ``[[1, 0, -1]] * 3`` at f = 3), ``horizontal`` its
    transpose; ``blur`` is ``1 / f**2`` everywhere; ``random`` holds integers in [-2, 2] drawn with
    ``seed``. ``sobel_x``, ``sobel_y``, ``sharpen`` and ``custom`` (the 3x3 array ``custom``) need f = 3.
    """
    if name not in FILTERS:
        raise ValueError(f"unknown filter {name!r}; expected one of {', '.join(FILTERS)}")
    if f < 1:
        raise ValueError(f"filter size f must be >= 1, got {f}")
    if name in FIXED_3X3 and f != 3:
        raise ValueError(f"the {FILTERS[name]} filter is 3×3; got f = {f}")
    if name == "identity":
        k = np.zeros((f, f))
        k[f // 2, f // 2] = 1.0
        return k
    if name in ("vertical", "horizontal"):
        centre = (f - 1) / 2
        row = np.sign(centre - np.arange(f))
        k = np.tile(row, (f, 1))
        return k if name == "vertical" else k.T.copy()
    if name == "blur":
        return np.full((f, f), 1.0 / (f * f))
    if name == "random":
        return np.random.default_rng(seed).integers(-2, 3, size=(f, f)).astype(np.float64)
    if name == "custom":
        k = np.asarray(custom, dtype=np.float64)
        if k.shape != (3, 3):
            raise ValueError(f"a custom filter is 3×3; got shape {k.shape}")
        if not np.all(np.isfinite(k)):
            raise ValueError("every entry of the custom filter must be a number")
        return k
    return np.array(_FIXED[name], dtype=np.float64)


def random_array(n_H: int, n_W: int, seed: int) -> np.ndarray:
    """A ``(n_H, n_W)`` float64 array of integers 0..9 drawn with ``seed``: numbers a student can add up."""
    if n_H < 1 or n_W < 1:
        raise ValueError(f"an input needs at least one row and column, got {n_H}×{n_W}")
    return np.random.default_rng(seed).integers(0, 10, size=(n_H, n_W)).astype(np.float64)


def to_gray(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(H, W)`` float64 luma ``0.299 R + 0.587 G + 0.114 B``, rounded.

    A ``(H, W, 1)`` or ``(H, W)`` image is returned as float64 unchanged.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.float64)
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"expected an (H, W, 3) or (H, W, 1) image, got shape {image.shape}")
    if image.shape[2] == 1:
        return image[:, :, 0].astype(np.float64)
    return np.rint(image.astype(np.float64) @ np.array([0.299, 0.587, 0.114]))


def sample_image(label: str, seed: int, size: int) -> np.ndarray:
    """A built-in ``label`` ("cat" or "dog") picture from :mod:`cnnlab.data.synth`: (size, size, 3) uint8."""
    from cnnlab.data import synth

    labels = {"cat": 0, "dog": 1}
    if label not in labels:
        raise ValueError(f"the built-in samples are 'cat' and 'dog', not {label!r}")
    return synth.render(labels[label], int(seed), size=int(size))


def read_upload(path: str | os.PathLike, image_size: int) -> np.ndarray:
    """An uploaded picture at ``image_size`` x ``image_size``: ``(image_size, image_size, 3)`` uint8.

    Checks, in order: at most :data:`MAX_UPLOAD_BYTES` bytes; a header Pillow recognises as an image of at
    most :data:`MAX_UPLOAD_PIXELS` pixels (read without decoding the pixels); then decodes and resizes it
    with :func:`cnnlab.data.load_image`. Anything wrong raises :class:`UploadError` with a one-line message.
    """
    from PIL import Image, UnidentifiedImageError

    size = os.path.getsize(path)
    if size > MAX_UPLOAD_BYTES:
        raise UploadError(
            f"the file is {size / 2**20:.1f} MB; uploads are limited to {MAX_UPLOAD_BYTES // 2**20} MB"
        )
    if size == 0:
        raise UploadError("the file is empty")
    try:
        with Image.open(path) as im:
            width, height = im.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as exc:
        raise UploadError(
            "not a picture, or a damaged one: expected a PNG, JPEG, BMP, GIF or WebP image "
            f"({type(exc).__name__})"
        ) from exc
    if width * height > MAX_UPLOAD_PIXELS:
        raise UploadError(
            f"the picture is {width}×{height} = {width * height / 1e6:.0f} megapixels; "
            f"the limit is {MAX_UPLOAD_PIXELS / 1e6:.0f}"
        )
    from cnnlab.data import load_image

    try:
        return load_image(path, image_size)
    except CnnlabError as exc:
        message = str(exc)  # drop the server-side temporary path that load_image names
        prefix = f"{path}: "
        raise UploadError(message[len(prefix) :] if message.startswith(prefix) else message) from exc
    except Exception as exc:  # a corrupt body behind a valid header: Pillow raises many kinds
        raise UploadError(f"the picture is corrupt or truncated ({type(exc).__name__}: {exc})") from exc


# -- convolution ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvResult:
    """One convolution as the Convolution tab shows it (2-D arrays; one input and one output channel)."""

    A: np.ndarray  # (n_H_prev, n_W_prev) input
    A_pad: np.ndarray  # (n_H_prev + 2 pad, n_W_prev + 2 pad) from ops.zero_pad
    W: np.ndarray  # (f, f) filter
    b: float  # bias
    Z: np.ndarray  # (n_H, n_W) from ops.conv_forward
    pad: int
    stride: int

    @property
    def f(self) -> int:
        return self.W.shape[0]


def convolve(A: np.ndarray, W: np.ndarray, b: float, pad: int, stride: int) -> ConvResult:
    """Pad ``A (n_H_prev, n_W_prev)`` (``ops.zero_pad``) and convolve it with ``W (f, f)`` (``conv_forward``).

    Raises ``ValueError`` (from the ops, naming the shapes) when no window fits.
    """
    A = np.asarray(A, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    A4 = A[None, :, :, None]
    Z, _ = ops.conv_forward(
        A4, W[:, :, None, None], np.full((1, 1, 1, 1), float(b)), {"pad": pad, "stride": stride}
    )
    A_pad = ops.zero_pad(A4, pad)
    return ConvResult(A=A, A_pad=A_pad[0, :, :, 0], W=W, b=float(b), Z=Z[0, :, :, 0], pad=pad, stride=stride)


@dataclass(frozen=True)
class ConvWindow:
    """Window ``k`` (row-major over the output cells) of a :class:`ConvResult`."""

    k: int
    h: int  # output row
    w: int  # output column
    rows: tuple[int, int]  # [start, end) on the padded input
    cols: tuple[int, int]
    a_slice: np.ndarray  # (f, f) window of the padded input
    W: np.ndarray  # (f, f)
    products: np.ndarray  # (f, f) a_slice * W, the terms of the sum
    b: float
    z: float  # ops.loops.conv_single_step(a_slice, W, b)


def conv_window(res: ConvResult, k: int) -> ConvWindow:
    """The ``k``-th window of ``res`` (``0 <= k < n_H * n_W``, row-major): rows ``h*s .. h*s+f-1`` and
    columns ``w*s .. w*s+f-1`` of the padded input, its products with ``W`` and its value from
    ``conv_single_step``."""
    n_H, n_W = res.Z.shape
    if not 0 <= k < n_H * n_W:
        raise ValueError(f"window {k} does not exist; the output has {n_H}×{n_W} = {n_H * n_W} cells")
    h, w = divmod(k, n_W)
    f, s = res.f, res.stride
    rows, cols = (h * s, h * s + f), (w * s, w * s + f)
    a_slice = res.A_pad[rows[0] : rows[1], cols[0] : cols[1]]
    z = loops.conv_single_step(a_slice[:, :, None], res.W[:, :, None], np.full((1, 1, 1), res.b))
    return ConvWindow(k, h, w, rows, cols, a_slice, res.W, a_slice * res.W, res.b, float(z))


def output_size_formula(
    n_prev: int, f: int, pad: int | None, stride: int, name: str = "n_H"
) -> tuple[str, int]:
    """The lab's formula with the numbers filled in, and its value.

    ``("n_H = ⌊(n_H_prev − f + 2·pad) / stride⌋ + 1 = ⌊(6 − 3 + 2·1) / 2⌋ + 1 = ⌊5 / 2⌋ + 1 = 3", 3)``;
    ``pad=None`` gives pooling's form without the padding term.
    """
    num = n_prev - f + 2 * (pad or 0)
    value = num // stride + 1
    if pad is None:
        general = f"{name} = ⌊({name}_prev − f) / stride⌋ + 1"
        filled = f"⌊({n_prev} − {f}) / {stride}⌋ + 1 = ⌊{num} / {stride}⌋ + 1 = {value}"
    else:
        general = f"{name} = ⌊({name}_prev − f + 2·pad) / stride⌋ + 1"
        filled = f"⌊({n_prev} − {f} + 2·{pad}) / {stride}⌋ + 1 = ⌊{num} / {stride}⌋ + 1 = {value}"
    return f"{general} = {filled}", value


# -- pooling --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PoolCell:
    """The forward and backward pass through one output cell ``(h, w)`` of a pooling layer."""

    h: int
    w: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    window: np.ndarray  # (f, f) slice of the input
    value: float  # Z[h, w]
    grad: float  # dA[h, w], the upstream gradient of this cell
    local: np.ndarray  # (f, f): create_mask_from_window(window) * grad, or distribute_value(grad, (f, f))
    dA_prev: np.ndarray  # (n_H_prev, n_W_prev): pool_backward of a dA that is `grad` at (h, w), 0 elsewhere


def pool(A: np.ndarray, f: int, stride: int, mode: str) -> np.ndarray:
    """``ops.pool_forward`` of the 2-D ``A (n_H_prev, n_W_prev)``: ``(n_H, n_W)`` with
    ``n_H = floor((n_H_prev - f) / stride) + 1``."""
    Z, _ = ops.pool_forward(
        np.asarray(A, dtype=np.float64)[None, :, :, None], {"f": f, "stride": stride}, mode
    )
    return Z[0, :, :, 0]


def pool_cell(A: np.ndarray, f: int, stride: int, mode: str, h: int, w: int, grad: float = 1.0) -> PoolCell:
    """Forward value and backward pass of output cell ``(h, w)`` of ``pool(A, f, stride, mode)``."""
    A = np.asarray(A, dtype=np.float64)
    A4 = A[None, :, :, None]
    hp = {"f": f, "stride": stride}
    Z, cache = ops.pool_forward(A4, hp, mode)
    n_H, n_W = Z.shape[1:3]
    if not (0 <= h < n_H and 0 <= w < n_W):
        raise ValueError(f"output cell ({h}, {w}) does not exist; the output is {n_H}×{n_W}")
    rows, cols = (h * stride, h * stride + f), (w * stride, w * stride + f)
    window = A[rows[0] : rows[1], cols[0] : cols[1]]
    if mode == "max":
        local = ops.create_mask_from_window(window) * grad
    else:
        local = np.asarray(ops.distribute_value(grad, (f, f)), dtype=np.float64)
    dA = np.zeros_like(Z)
    dA[0, h, w, 0] = grad
    dA_prev = ops.pool_backward(dA, cache, mode)[0, :, :, 0]
    return PoolCell(h, w, rows, cols, window, float(Z[0, h, w, 0]), float(grad), local, dA_prev)


# -- text -----------------------------------------------------------------------------------------------
def fmt(x: float, digits: int = 3) -> str:
    """A number as a student reads it: ``7``, ``-3``, ``0.111``, ``-1.5`` (at most ``digits`` decimals).

    Uses a real minus sign (−) so negative numbers line up in the grids.
    """
    x = float(x)
    if not np.isfinite(x):
        return str(x)
    r = round(x, digits)
    if r == 0:
        r = 0.0  # no "-0"
    s = f"{r:.{digits}f}".rstrip("0").rstrip(".")
    return s.replace("-", "−")


def parse_number(text: str) -> float:
    """Inverse of :func:`fmt` (accepts ``−`` as minus): for tests and for reading the page back."""
    return float(text.strip().replace("−", "-").replace("(", "").replace(")", ""))


def terms_text(win: ConvWindow) -> str:
    """``"7×1 + 4×1 + 3×(−1) + … + b"`` : the products of a window in row-major order, then the bias."""
    parts = []
    for a, wv in zip(win.a_slice.ravel(), win.W.ravel(), strict=True):
        ws = fmt(wv)
        parts.append(f"{fmt(a)}×{'(' + ws + ')' if ws.startswith('−') else ws}")
    bs = fmt(win.b)
    parts.append(f"({bs})" if bs.startswith("−") else bs)
    return " + ".join(parts)
