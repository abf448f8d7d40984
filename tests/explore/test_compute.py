"""Fast tests of the explorer's pure helpers (no browser): inputs, filters, the numbers each panel shows,
upload checks, the HTML grids and the upload-size middleware.

Oracles: the lab's printed filters, and plain double loops over windows written here (independent of
cnnlab.ops, which the helpers call).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re

import numpy as np
import pytest

from cnnlab.explore import compute as C
from cnnlab.explore import html as H


def naive_conv2d(A: np.ndarray, W: np.ndarray, b: float, pad: int, stride: int) -> np.ndarray:
    """Cross-correlation by the definition: sum(A_pad[window] * W) + b for each window that fits."""
    A_pad = np.zeros((A.shape[0] + 2 * pad, A.shape[1] + 2 * pad))
    A_pad[pad : pad + A.shape[0], pad : pad + A.shape[1]] = A
    f = W.shape[0]
    rows = range(0, A_pad.shape[0] - f + 1, stride)
    cols = range(0, A_pad.shape[1] - f + 1, stride)
    return np.array([[np.sum(A_pad[r : r + f, c : c + f] * W) + b for c in cols] for r in rows])


def naive_pool(A: np.ndarray, f: int, stride: int, mode: str) -> np.ndarray:
    red = np.max if mode == "max" else np.mean
    rows = range(0, A.shape[0] - f + 1, stride)
    cols = range(0, A.shape[1] - f + 1, stride)
    return np.array([[red(A[r : r + f, c : c + f]) for c in cols] for r in rows])


# -- filters and inputs ---------------------------------------------------------------------------------
def test_filters_match_the_textbook_kernels():
    assert C.filter_kernel("vertical", 3).tolist() == [[1, 0, -1]] * 3  # the lab's vertical edge detector
    assert C.filter_kernel("horizontal", 3).tolist() == [[1, 1, 1], [0, 0, 0], [-1, -1, -1]]
    assert C.filter_kernel("sobel_x").tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert C.filter_kernel("sobel_y").tolist() == [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
    assert C.filter_kernel("sharpen").tolist() == [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]
    assert C.filter_kernel("identity", 5).sum() == 1 and C.filter_kernel("identity", 5)[2, 2] == 1
    np.testing.assert_allclose(C.filter_kernel("blur", 4), np.full((4, 4), 1 / 16))
    assert C.filter_kernel("vertical", 4).tolist() == [[1, 1, -1, -1]] * 4
    r = C.filter_kernel("random", 5, seed=3)
    assert r.shape == (5, 5) and set(np.unique(r)) <= {-2, -1, 0, 1, 2}
    np.testing.assert_array_equal(r, C.filter_kernel("random", 5, seed=3))
    custom = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(C.filter_kernel("custom", custom=custom), custom)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("sobel_x", 5), "3×3"),
        (("nope", 3), "unknown filter"),
        (("blur", 0), "f must be"),
    ],
)
def test_filter_errors_name_the_problem(args, match):
    with pytest.raises(ValueError, match=match):
        C.filter_kernel(*args)


def test_custom_filter_must_be_3x3_numbers():
    with pytest.raises(ValueError, match="shape"):
        C.filter_kernel("custom", custom=np.ones((2, 2)))
    with pytest.raises(ValueError, match="number"):
        C.filter_kernel("custom", custom=np.array([[np.nan] * 3] * 3))


def test_random_array_is_small_integers_and_reproducible():
    a = C.random_array(4, 7, seed=5)
    assert a.shape == (4, 7) and a.dtype == np.float64
    assert np.all((a >= 0) & (a <= 9) & (a == np.round(a)))
    np.testing.assert_array_equal(a, C.random_array(4, 7, seed=5))
    with pytest.raises(ValueError, match="at least one"):
        C.random_array(0, 3, 1)


def test_to_gray_uses_the_luma_weights():
    img = np.zeros((1, 3, 3), dtype=np.uint8)
    img[0, 0] = (255, 0, 0)
    img[0, 1] = (0, 255, 0)
    img[0, 2] = (10, 20, 30)
    np.testing.assert_array_equal(C.to_gray(img), [[76, 150, round(0.299 * 10 + 0.587 * 20 + 0.114 * 30)]])
    with pytest.raises(ValueError, match="shape"):
        C.to_gray(np.zeros((2, 2, 4), np.uint8))


def test_sample_image_is_a_gray_convertible_picture():
    img = C.sample_image("dog", 2, 16)
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8
    assert not np.array_equal(img, C.sample_image("cat", 2, 16))
    with pytest.raises(ValueError, match="cat"):
        C.sample_image("bird", 0, 16)


# -- convolution ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "f", "pad", "stride", "b"),
    [((6, 6), 3, 1, 1, 0.0), ((5, 7), 3, 0, 2, 1.5), ((7, 4), 2, 2, 3, -2.0), ((3, 3), 1, 0, 1, 0.0)],
)
def test_convolve_and_every_window_match_the_definition(shape, f, pad, stride, b):
    A = C.random_array(*shape, seed=11)
    W = C.filter_kernel("random", f, seed=4)
    res = C.convolve(A, W, b, pad, stride)
    expected = naive_conv2d(A, W, b, pad, stride)
    np.testing.assert_allclose(res.Z, expected, rtol=0, atol=1e-12)
    assert res.A_pad.shape == (shape[0] + 2 * pad, shape[1] + 2 * pad)
    np.testing.assert_array_equal(res.A_pad[pad : pad + shape[0], pad : pad + shape[1]], A)
    assert res.A_pad.sum() == A.sum()  # only zeros added
    for name, n_prev, n in (("n_H", shape[0], res.Z.shape[0]), ("n_W", shape[1], res.Z.shape[1])):
        text, value = C.output_size_formula(n_prev, f, pad, stride, name)
        assert value == n
        assert text.endswith(f"= {n}") and f"({n_prev} − {f} + 2·{pad}) / {stride}" in text
    for k in range(res.Z.size):
        win = C.conv_window(res, k)
        h, w = divmod(k, res.Z.shape[1])
        assert (win.h, win.w) == (h, w)
        assert win.rows == (h * stride, h * stride + f) and win.cols == (w * stride, w * stride + f)
        assert win.z == pytest.approx(expected[h, w], abs=1e-12)
        np.testing.assert_allclose(win.products, win.a_slice * W)
        # the shown terms, read back, add up to the shown sum
        terms = C.terms_text(win).split(" + ")
        assert len(terms) == f * f + 1
        total = sum(np.prod([C.parse_number(x) for x in t.split("×")]) for t in terms[:-1])
        assert total + C.parse_number(terms[-1]) == pytest.approx(win.z, abs=1e-9)
    with pytest.raises(ValueError, match="does not exist"):
        C.conv_window(res, res.Z.size)


def test_identity_filter_returns_the_input():
    A = C.random_array(5, 6, seed=2)
    np.testing.assert_array_equal(C.convolve(A, C.filter_kernel("identity", 3), 0, 1, 1).Z, A)


def test_convolve_reports_a_filter_larger_than_the_padded_input():
    with pytest.raises(ValueError):
        C.convolve(C.random_array(2, 2, 0), C.filter_kernel("blur", 5), 0, 1, 1)


def test_pool_formula_has_no_pad_term():
    text, value = C.output_size_formula(7, 3, None, 2, "n_W")
    assert value == 3 and "pad" not in text and "⌊(7 − 3) / 2⌋ + 1" in text


# -- pooling --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize(("shape", "f", "stride"), [((6, 6), 2, 2), ((5, 7), 3, 1), ((4, 5), 2, 3)])
def test_pool_and_pool_cell_match_the_definition(mode, shape, f, stride):
    A = C.random_array(*shape, seed=7)  # integers 0..9: ties are common
    Z = C.pool(A, f, stride, mode)
    np.testing.assert_allclose(Z, naive_pool(A, f, stride, mode), rtol=0, atol=1e-12)
    for h in range(Z.shape[0]):
        for w in range(Z.shape[1]):
            cell = C.pool_cell(A, f, stride, mode, h, w, grad=2.0)
            window = A[h * stride : h * stride + f, w * stride : w * stride + f]
            np.testing.assert_array_equal(cell.window, window)
            assert cell.value == pytest.approx(Z[h, w])
            if mode == "max":
                first = np.unravel_index(np.argmax(window), window.shape)  # first maximum, row-major
                expected_local = np.zeros((f, f))
                expected_local[first] = 2.0
            else:
                expected_local = np.full((f, f), 2.0 / (f * f))
            np.testing.assert_allclose(cell.local, expected_local, rtol=0, atol=1e-15)
            expected_prev = np.zeros(shape)
            expected_prev[cell.rows[0] : cell.rows[1], cell.cols[0] : cell.cols[1]] = expected_local
            np.testing.assert_allclose(cell.dA_prev, expected_prev, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="does not exist"):
        C.pool_cell(A, f, stride, mode, Z.shape[0], 0)


# -- text and HTML --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("x", "text"),
    [(7, "7"), (-3.0, "−3"), (1 / 9, "0.111"), (-1.5, "−1.5"), (-0.0001, "0"), (120.25, "120.25")],
)
def test_fmt_reads_like_a_student_writes(x, text):
    assert C.fmt(x) == text
    assert C.parse_number(text) == pytest.approx(round(x, 3))


def _cells(html: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", html)
    return [re.findall(r"<td[^>]*>([^<]*)</td>", r) for r in rows]


def test_grid_shows_every_number_and_frames_the_window():
    A = np.array([[1.0, -2.5, 3.0], [0.125, 5.0, -6.0]])
    out = H.grid(A, window=((0, 2), (1, 3)), grid_id="g")
    np.testing.assert_allclose(H.read_grid(_cells(out)), np.round(A, 3))
    assert out.count('class="win"') == 4 and 'id="g"' in out
    padded = H.grid(np.zeros((4, 4)), pad=1)
    assert padded.count('class="pad"') == 16 - 4


def test_array_view_switches_to_a_picture_for_large_arrays():
    assert "<table" in H.array_view(np.ones((C.GRID_MAX, 3)))
    pic = H.array_view(np.ones((C.GRID_MAX + 1, 3)), window=((0, 2), (0, 2)), alt="big")
    assert pic.startswith('<img alt="big" src="data:image/png;base64,')


# -- uploads --------------------------------------------------------------------------------------------
def test_read_upload_accepts_a_picture(tmp_path):
    from PIL import Image

    p = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(p)
    img = C.read_upload(p, 16)
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty"),
        (b"this is not an image", "not a picture"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not a picture"),
    ],
)
def test_read_upload_refuses_non_images(tmp_path, content, match):
    p = tmp_path / "cat.png"
    p.write_bytes(content)
    with pytest.raises(C.UploadError, match=match):
        C.read_upload(p, 16)


def test_read_upload_refuses_a_truncated_picture_without_naming_the_server_path(tmp_path):
    from PIL import Image

    p = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(p)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(C.UploadError) as info:
        C.read_upload(p, 16)
    assert str(tmp_path) not in str(info.value)


def test_read_upload_caps_bytes_and_pixels(tmp_path):
    from PIL import Image

    big = tmp_path / "big.png"
    with big.open("wb") as fh:
        fh.truncate(C.MAX_UPLOAD_BYTES + 1)  # sparse: no real disk use
    with pytest.raises(C.UploadError, match="10 MB"):
        C.read_upload(big, 16)
    wide = tmp_path / "wide.png"
    Image.new("1", (8000, 6000)).save(wide)  # 48 megapixels, a few kB on disk
    assert wide.stat().st_size < C.MAX_UPLOAD_BYTES
    with pytest.raises(C.UploadError, match="megapixels"):
        C.read_upload(wide, 16)


# -- the upload-size middleware -------------------------------------------------------------------------
def _call(mw, method: str, path: str, length: bytes | None) -> list[dict]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    headers = [] if length is None else [(b"content-length", length)]
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    # a thread of its own: Playwright's sync API may hold a running event loop in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, mw(scope, receive, send)).result()
    return sent


def test_upload_limit_refuses_large_or_undeclared_uploads_before_the_app_sees_them():
    pytest.importorskip("shiny")
    from cnnlab.explore.app import UploadLimit

    path = "/session/abc/upload/def"
    for length in (b"101", None, b"x"):
        inner = _Recorder()
        sent = _call(UploadLimit(inner, max_bytes=100), "POST", path, length)
        assert sent[0]["status"] == 413 and inner.calls == []
    for method, p, length in (("POST", path, b"100"), ("GET", path, None), ("POST", "/other", b"999")):
        inner = _Recorder()
        _call(UploadLimit(inner, max_bytes=100), method, p, length)
        assert inner.calls == [p]


class _Recorder:
    def __init__(self):
        self.calls: list[str] = []

    async def __call__(self, scope, receive, send):
        self.calls.append(scope["path"])
