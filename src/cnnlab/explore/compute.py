"""The explorer's numbers: inputs, filters, and what each panel shows, all computed by :mod:`cnnlab.ops`.

Pure functions of arrays, no Shiny: the tabs (:mod:`cnnlab.explore.conv_tab` and friends) call them and
tests call them directly. Convolution works on one example's volume ``A (n_H_prev, n_W_prev, n_C_prev)``
with filters ``W (f, f, n_C_prev, n_C)`` (the lab's NHWC layout without the batch axis, added before
calling the ops and removed afterwards); pooling on one 2-D channel ``(n_H, n_W)``.

Nothing is recomputed with a second implementation: the padded input comes from ``zero_pad``, the
output volume from ``conv_forward``, each window's value and per-channel partial sums from
``conv_single_step`` (the loops version, as taught), the gradients from ``conv_backward``, pooling from
``pool_forward`` / ``pool_backward`` and the local backward pass from ``create_mask_from_window`` /
``distribute_value``. The only arithmetic done here is the output-size formula (checked before the ops
run, so that impossible settings get a message naming it) and the products shown beside the sums.
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
class SettingsError(CnnlabError, ValueError):
    """Settings for which the layer has no output (a filter larger than the padded input)."""


def filter_bank(
    kind: str, f: int, n_C_prev: int, n_C: int, seed: int = 0, custom: np.ndarray | None = None
) -> np.ndarray:
    """The Convolution tab's filters ``W (f, f, n_C_prev, n_C)`` float64.

    Filter 0 is :func:`filter_kernel` ``kind`` in every input channel (``W[:, :, c, 0]`` the same for each
    ``c``); filters ``1 .. n_C - 1`` are integers in [-2, 2] drawn with ``seed``. ``kind = "random"``
    draws every filter, ``W`` of shape ``(f, f, n_C_prev, n_C)``, from ``seed``.
    """
    if n_C_prev < 1 or n_C < 1:
        raise ValueError(f"a filter bank needs at least one channel and filter, got {n_C_prev}, {n_C}")
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.integers(-2, 3, size=(f, f, n_C_prev, n_C)).astype(np.float64)
    k = filter_kernel(kind, f, seed=seed, custom=custom)
    f = k.shape[0]
    W = np.zeros((f, f, n_C_prev, n_C))
    W[:, :, :, 0] = k[:, :, None]
    if n_C > 1:
        W[:, :, :, 1:] = rng.integers(-2, 3, size=(f, f, n_C_prev, n_C - 1))
    return W


def random_volume(n_H: int, n_W: int, n_C: int, seed: int) -> np.ndarray:
    """A ``(n_H, n_W, n_C)`` float64 volume of integers 0..9 drawn with ``seed``."""
    if n_H < 1 or n_W < 1 or n_C < 1:
        raise ValueError(f"an input needs at least one row, column and channel, got {n_H}×{n_W}×{n_C}")
    return np.random.default_rng(seed).integers(0, 10, size=(n_H, n_W, n_C)).astype(np.float64)


def picture_channels(image: np.ndarray, n_C: int) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(H, W, n_C)`` float64: ``n_C = 1`` the luma (:func:`to_gray`),
    2 the red and green channels, 3 red, green and blue."""
    if n_C not in (1, 2, 3):
        raise ValueError(f"a picture has 1 to 3 channels, not {n_C}")
    if n_C == 1:
        return to_gray(image)[:, :, None]
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) picture, got shape {image.shape}")
    return image[:, :, :n_C].astype(np.float64)


@dataclass(frozen=True)
class SizeCheck:
    """The output-size formula for one axis, filled in: ``value < 1`` means no window fits."""

    text: str
    value: int
    leftover: int  # rows (or columns) of the padded input that no window reaches

    @property
    def ok(self) -> bool:
        return self.value >= 1


def size_check(n_prev: int, f: int, pad: int | None, stride: int, name: str = "n_H") -> SizeCheck:
    """:func:`output_size_formula` and whether it describes a real output.

    ``n = floor((n_prev - f + 2 pad) / stride) + 1``; impossible (``n < 1``) when ``f > n_prev + 2 pad``.
    ``leftover = (n_prev - f + 2 pad) mod stride``: the last rows the windows skip.
    """
    text, value = output_size_formula(n_prev, f, pad, stride, name)
    num = n_prev - f + 2 * (pad or 0)
    if num < 0:
        return SizeCheck(text, min(value, 0), 0)
    return SizeCheck(text, value, num % stride)


@dataclass(frozen=True)
class ConvVolume:
    """One multi-channel convolution as the lab computes it (one example, NHWC without the batch axis)."""

    A: np.ndarray  # (n_H_prev, n_W_prev, n_C_prev) input
    A_pad: np.ndarray  # (n_H_prev + 2 pad, n_W_prev + 2 pad, n_C_prev) from ops.zero_pad
    W: np.ndarray  # (f, f, n_C_prev, n_C)
    b: np.ndarray  # (n_C,)
    Z: np.ndarray  # (n_H, n_W, n_C) from ops.conv_forward
    pad: int
    stride: int
    cache: tuple  # conv_forward's cache (A_prev, W, b, hparameters), for conv_backward

    @property
    def f(self) -> int:
        return self.W.shape[0]


def conv_volume(A: np.ndarray, W: np.ndarray, b: np.ndarray | float, pad: int, stride: int) -> ConvVolume:
    """``ops.conv_forward`` of ``A (n_H_prev, n_W_prev, n_C_prev)`` with ``W (f, f, n_C_prev, n_C)`` and
    ``b (n_C,)`` (a float: the same bias for every filter); ``Z (n_H, n_W, n_C)`` with
    ``n_H = floor((n_H_prev - f + 2 pad) / stride) + 1``. Cross-correlation, as the lab (no kernel flip).

    Raises :class:`SettingsError` naming the formula when no window fits (checked before calling the ops).
    """
    A = np.asarray(A, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    if A.ndim != 3 or W.ndim != 4 or W.shape[2] != A.shape[2]:
        raise ValueError(f"A (n_H_prev, n_W_prev, n_C_prev) and W (f, f, n_C_prev, n_C) do not fit: "
                         f"A.shape={A.shape}, W.shape={W.shape}")  # fmt: skip
    f = W.shape[0]
    for name, n_prev in (("n_H", A.shape[0]), ("n_W", A.shape[1])):
        chk = size_check(n_prev, f, pad, stride, name)
        if not chk.ok:
            raise SettingsError(
                f"no window fits: f = {f} is larger than the padded input ({n_prev} + 2·{pad} = "
                f"{n_prev + 2 * pad}), so {chk.text}"
            )
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), (W.shape[3],)).copy()
    Z, cache = ops.conv_forward(A[None], W, b.reshape(1, 1, 1, -1), {"pad": pad, "stride": stride})
    A_pad = ops.zero_pad(A[None], pad)[0]
    return ConvVolume(A=A, A_pad=A_pad, W=W, b=b, Z=Z[0], pad=pad, stride=stride, cache=cache)


@dataclass(frozen=True)
class ConvCell:
    """Output cell ``Z[h, w, c]`` of a :class:`ConvVolume`, channel by channel.

    ``partial[k] = conv_single_step(a_slice[:, :, k], W[:, :, k, c], 0)`` is the sum of channel ``k``'s
    products; ``z = conv_single_step(a_slice, W[:, :, :, c], b[c])``, which equals
    ``sum(partial) + b`` and ``z_forward``, ``conv_forward``'s ``Z[h, w, c]``.
    """

    h: int
    w: int
    c: int
    rows: tuple[int, int]  # [start, end) on the padded input
    cols: tuple[int, int]
    a_slice: np.ndarray  # (f, f, n_C_prev) window of the padded input, every channel
    W: np.ndarray  # (f, f, n_C_prev): filter c
    products: np.ndarray  # (f, f, n_C_prev) a_slice * W
    partial: np.ndarray  # (n_C_prev,) per-channel sums
    b: float
    z: float  # conv_single_step of the whole window
    z_forward: float  # conv_forward's Z[h, w, c]


def window_of(h: int, w: int, f: int, stride: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Rows and columns ``[start, end)`` of the padded input that output cell ``(h, w)`` reads:
    ``vert_start = h * stride``, ``vert_end = vert_start + f`` (the lab's names), likewise for columns."""
    return (h * stride, h * stride + f), (w * stride, w * stride + f)


def conv_cell(res: ConvVolume, h: int, w: int, c: int) -> ConvCell:
    """The window, products and partial sums behind ``Z[h, w, c]``; ``ValueError`` for a cell outside Z."""
    n_H, n_W, n_C = res.Z.shape
    if not (0 <= h < n_H and 0 <= w < n_W and 0 <= c < n_C):
        raise ValueError(f"output cell Z[{h}, {w}, {c}] does not exist; Z is {n_H}×{n_W}×{n_C}")
    rows, cols = window_of(h, w, res.f, res.stride)
    a_slice = res.A_pad[rows[0] : rows[1], cols[0] : cols[1], :]
    Wc = res.W[:, :, :, c]
    zero = np.zeros((1, 1, 1))
    partial = np.array(
        [float(loops.conv_single_step(a_slice[:, :, k : k + 1], Wc[:, :, k : k + 1], zero))
         for k in range(a_slice.shape[2])]
    )  # fmt: skip
    z = float(loops.conv_single_step(a_slice, Wc, np.full((1, 1, 1), res.b[c])))
    return ConvCell(h, w, c, rows, cols, a_slice, Wc, a_slice * Wc, partial, float(res.b[c]), z,
                    float(res.Z[h, w, c]))  # fmt: skip


@dataclass(frozen=True)
class ConvGrads:
    """``ops.conv_backward`` of a :class:`ConvVolume` for one upstream gradient ``dZ``."""

    dZ: np.ndarray  # (n_H, n_W, n_C)
    dA_prev: np.ndarray  # (n_H_prev, n_W_prev, n_C_prev)
    dW: np.ndarray  # (f, f, n_C_prev, n_C)
    db: np.ndarray  # (n_C,)


def upstream(res: ConvVolume, mode: str, cell: tuple[int, int, int]) -> np.ndarray:
    """The chosen ``dZ (n_H, n_W, n_C)``: ``"cell"`` is 1 at ``cell = (h, w, c)`` and 0 elsewhere,
    ``"ones"`` is 1 everywhere (the gradient of ``sum(Z)``)."""
    if mode == "ones":
        return np.ones_like(res.Z)
    if mode != "cell":
        raise ValueError(f"dZ is 'cell' or 'ones', not {mode!r}")
    dZ = np.zeros_like(res.Z)
    dZ[cell] = 1.0
    return dZ


def conv_grads(res: ConvVolume, dZ: np.ndarray) -> ConvGrads:
    """``dA_prev, dW, db = ops.conv_backward(dZ[None], cache)``, without the batch axis; ``db`` as
    ``(n_C,)``. The lab's formulas, summed over every output cell ``(h, w, c)``::

        dA_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :] += W[:, :, :, c] * dZ[h, w, c]
        dW[:, :, :, c] += a_slice_prev * dZ[h, w, c]
        db[:, :, :, c] += dZ[h, w, c]
    """
    dZ = np.asarray(dZ, dtype=np.float64)
    if dZ.shape != res.Z.shape:
        raise ValueError(f"dZ has shape {dZ.shape} but Z has {res.Z.shape}")
    dA_prev, dW, db = ops.conv_backward(dZ[None], res.cache)
    return ConvGrads(dZ=dZ, dA_prev=dA_prev[0], dW=dW, db=np.asarray(db).reshape(-1))


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


def terms_text(products_a: np.ndarray, products_w: np.ndarray) -> str:
    """``"7×1 + 4×1 + 3×(−1) + …"``: the products of one channel's window, row-major.

    ``products_a``, ``products_w``: ``(f, f)`` window and weights.
    """
    parts = []
    for a, wv in zip(np.ravel(products_a), np.ravel(products_w), strict=True):
        ws = fmt(wv)
        parts.append(f"{fmt(a)}×{'(' + ws + ')' if ws.startswith('−') else ws}")
    return " + ".join(parts)


def signed(x: float, digits: int = 3) -> str:
    """A number as a term of a sum: negative ones in brackets, ``(−2)``."""
    s = fmt(x, digits)
    return f"({s})" if s.startswith("−") else s
