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
def naive_conv(A: np.ndarray, W: np.ndarray, b: np.ndarray, pad: int, stride: int) -> np.ndarray:
    """Multi-channel cross-correlation by the definition, one cell at a time:
    ``Z[h, w, c] = sum_{p, q, k} A_pad[h*s + p, w*s + q, k] * W[p, q, k, c] + b[c]``."""
    n_H_prev, n_W_prev, n_C_prev = A.shape
    f, n_C = W.shape[0], W.shape[3]
    A_pad = np.zeros((n_H_prev + 2 * pad, n_W_prev + 2 * pad, n_C_prev))
    A_pad[pad : pad + n_H_prev, pad : pad + n_W_prev] = A
    n_H = (n_H_prev + 2 * pad - f) // stride + 1
    n_W = (n_W_prev + 2 * pad - f) // stride + 1
    Z = np.zeros((n_H, n_W, n_C))
    for h in range(n_H):
        for w in range(n_W):
            for c in range(n_C):
                total = 0.0
                for p in range(f):
                    for q in range(f):
                        for k in range(n_C_prev):
                            total += A_pad[h * stride + p, w * stride + q, k] * W[p, q, k, c]
                Z[h, w, c] = total + b[c]
    return Z


def naive_conv_backward(A, W, pad, stride, dZ):
    """The lab's three update rules applied cell by cell (plain loops, independent of cnnlab.ops)."""
    f = W.shape[0]
    A_pad = np.zeros((A.shape[0] + 2 * pad, A.shape[1] + 2 * pad, A.shape[2]))
    A_pad[pad : pad + A.shape[0], pad : pad + A.shape[1]] = A
    dA_pad = np.zeros_like(A_pad)
    dW = np.zeros_like(W)
    db = np.zeros(W.shape[3])
    for h in range(dZ.shape[0]):
        for w in range(dZ.shape[1]):
            for c in range(dZ.shape[2]):
                r, q = h * stride, w * stride
                dA_pad[r : r + f, q : q + f, :] += W[:, :, :, c] * dZ[h, w, c]
                dW[:, :, :, c] += A_pad[r : r + f, q : q + f, :] * dZ[h, w, c]
                db[c] += dZ[h, w, c]
    return dA_pad[pad : pad + A.shape[0], pad : pad + A.shape[1]], dW, db


@pytest.mark.parametrize(
    ("shape", "n_C", "f", "pad", "stride", "b"),
    [((6, 6, 3), 2, 3, 1, 1, 0.0), ((5, 7, 2), 3, 3, 0, 2, 1.5), ((7, 4, 1), 4, 2, 2, 3, -2.0),
     ((3, 3, 3), 1, 1, 0, 1, 0.0)],
)  # fmt: skip
def test_conv_volume_and_every_cell_match_the_definition(shape, n_C, f, pad, stride, b):
    A = C.random_volume(*shape, seed=11)
    W = C.filter_bank("random", f, shape[2], n_C, seed=4)
    res = C.conv_volume(A, W, b, pad, stride)
    bias = np.full(n_C, b)
    expected = naive_conv(A, W, bias, pad, stride)
    np.testing.assert_allclose(res.Z, expected, rtol=0, atol=1e-12)
    assert res.A_pad.shape == (shape[0] + 2 * pad, shape[1] + 2 * pad, shape[2])
    np.testing.assert_array_equal(res.A_pad[pad : pad + shape[0], pad : pad + shape[1]], A)
    assert res.A_pad.sum() == A.sum()  # only zeros added
    for name, n_prev, n in (("n_H", shape[0], res.Z.shape[0]), ("n_W", shape[1], res.Z.shape[1])):
        chk = C.size_check(n_prev, f, pad, stride, name)
        assert chk.ok and chk.value == n
        assert chk.text.endswith(f"= {n}") and f"({n_prev} − {f} + 2·{pad}) / {stride}" in chk.text
        assert chk.leftover == (n_prev + 2 * pad - f) % stride
    for h in range(res.Z.shape[0]):
        for w in range(res.Z.shape[1]):
            for c in range(n_C):
                cc = C.conv_cell(res, h, w, c)
                assert cc.rows == (h * stride, h * stride + f) and cc.cols == (w * stride, w * stride + f)
                assert cc.z == pytest.approx(expected[h, w, c], abs=1e-12)
                assert cc.z_forward == pytest.approx(expected[h, w, c], abs=1e-12)
                for k in range(shape[2]):  # each channel's partial sum, and its shown terms
                    window = res.A_pad[cc.rows[0] : cc.rows[1], cc.cols[0] : cc.cols[1], k]
                    assert cc.partial[k] == pytest.approx(np.sum(window * W[:, :, k, c]), abs=1e-12)
                    terms = C.terms_text(cc.a_slice[:, :, k], cc.W[:, :, k]).split(" + ")
                    assert len(terms) == f * f
                    total = sum(np.prod([C.parse_number(x) for x in t.split("×")]) for t in terms)
                    assert total == pytest.approx(cc.partial[k], abs=1e-9)
                assert cc.partial.sum() + cc.b == pytest.approx(cc.z, abs=1e-9)
    with pytest.raises(ValueError, match="does not exist"):
        C.conv_cell(res, res.Z.shape[0], 0, 0)


@pytest.mark.parametrize("mode", ["cell", "ones"])
def test_conv_grads_are_the_three_update_rules(mode):
    A = C.random_volume(5, 6, 3, seed=2)
    W = C.filter_bank("random", 3, 3, 2, seed=9)
    res = C.conv_volume(A, W, 0.5, 1, 2)
    dZ = C.upstream(res, mode, (1, 2, 1))
    if mode == "cell":
        assert dZ.sum() == 1 and dZ[1, 2, 1] == 1
    else:
        assert np.all(dZ == 1)
    g = C.conv_grads(res, dZ)
    dA, dW, db = naive_conv_backward(A, W, 1, 2, dZ)
    np.testing.assert_allclose(g.dA_prev, dA, rtol=0, atol=1e-12)
    np.testing.assert_allclose(g.dW, dW, rtol=0, atol=1e-12)
    np.testing.assert_allclose(g.db, db, rtol=0, atol=1e-12)


def test_filter_bank_puts_the_named_filter_first_in_every_channel():
    W = C.filter_bank("vertical", 3, 3, 4, seed=1)
    assert W.shape == (3, 3, 3, 4)
    for k in range(3):
        assert W[:, :, k, 0].tolist() == [[1, 0, -1]] * 3
    assert set(np.unique(W[:, :, :, 1:])) <= {-2, -1, 0, 1, 2}
    np.testing.assert_array_equal(W, C.filter_bank("vertical", 3, 3, 4, seed=1))
    R = C.filter_bank("random", 5, 2, 3, seed=7)
    assert R.shape == (5, 5, 2, 3) and not np.array_equal(R[:, :, :, 0], R[:, :, :, 1])


def test_identity_filter_returns_each_channel():
    A = C.random_volume(5, 6, 2, seed=2)
    W = np.zeros((3, 3, 2, 2))
    W[1, 1, 0, 0] = W[1, 1, 1, 1] = 1  # filter c copies channel c
    np.testing.assert_array_equal(C.conv_volume(A, W, 0, 1, 1).Z, A)


def test_impossible_settings_are_named_before_the_ops_run():
    A = C.random_volume(2, 2, 1, 0)
    with pytest.raises(
        C.SettingsError, match=r"no window fits: f = 5 is larger than the padded input \(2 \+ 2·1 = 4\)"
    ):
        C.conv_volume(A, C.filter_bank("blur", 5, 1, 1), 0, 1, 1)
    chk = C.size_check(2, 5, 1, 1)
    assert not chk.ok and chk.value < 1


def test_picture_channels():
    img = C.sample_image("cat", 1, 8)
    np.testing.assert_array_equal(C.picture_channels(img, 3), img.astype(np.float64))
    np.testing.assert_array_equal(C.picture_channels(img, 2), img[:, :, :2].astype(np.float64))
    np.testing.assert_array_equal(C.picture_channels(img, 1)[:, :, 0], C.to_gray(img))
    with pytest.raises(ValueError, match="1 to 3"):
        C.picture_channels(img, 4)


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
    from cnnlab.explore.serve import UploadLimit

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
