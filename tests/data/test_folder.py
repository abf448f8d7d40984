"""Reading image folders: layouts, formats, modes, the resize, and every kind of bad input."""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from cnnlab.data import load_dataset, load_image
from cnnlab.errors import DataError
from tests.data.helpers import bomb_png, make_folder, save_png

# --------------------------------------------------------------------------------------------- layouts


def test_split_layout_reads_every_file_exactly(tmp_path):
    written = make_folder(tmp_path, {"dogs": 3, "cats": 4})  # classes come out sorted: cats = 0, dogs = 1
    (tmp_path / "train" / ".hidden").mkdir()
    (tmp_path / "train" / "cats" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "README.md").write_text("not a class")
    ds = load_dataset(tmp_path, image_size=12, cache=False)
    assert ds.classes == ["cats", "dogs"]
    assert ds.root == tmp_path.absolute()
    assert ds.image_size == 12 and ds.num_classes == 2 and ds.channels == 3
    assert ds.skipped == []
    for split, n in (("train", 7), ("test", 7)):
        s = getattr(ds, split)
        assert len(s) == n and s.images.shape == (n, 12, 12, 3) and s.images.dtype == np.uint8
        assert s.labels.dtype == np.int64
        for img, label, path in zip(s.images, s.labels, s.paths, strict=True):
            assert os.path.isabs(path) and f"/{split}/" in path
            assert ds.classes[label] == os.path.basename(os.path.dirname(path))
            np.testing.assert_array_equal(img, written[path])  # PNG at the target size: no resampling
    np.testing.assert_array_equal(ds.train.counts(2), [4, 3])


def test_flat_layout_is_split_stratified_and_seeded(tmp_path):
    written = make_folder(tmp_path, {"a": 10, "b": 7, "c": 3}, splits=("",))
    ds = load_dataset(tmp_path, image_size=12, test_fraction=0.3, seed=1, cache=False)
    assert ds.classes == ["a", "b", "c"]
    np.testing.assert_array_equal(ds.test.counts(3), [3, 2, 1])  # floor(0.3 * n + 0.5)
    assert sorted(ds.train.paths + ds.test.paths) == sorted(written)
    for s in (ds.train, ds.test):
        for img, path in zip(s.images, s.paths, strict=True):
            np.testing.assert_array_equal(img, written[path])
    again = load_dataset(tmp_path, image_size=12, test_fraction=0.3, seed=1, cache=False)
    assert again.test.paths == ds.test.paths
    other = [
        load_dataset(tmp_path, image_size=12, test_fraction=0.3, seed=s, cache=False).test.paths
        for s in (2, 3, 4)
    ]
    assert any(p != ds.test.paths for p in other)


def test_grayscale_gives_one_channel_of_pillow_luma(tmp_path):
    save_png(tmp_path / "x.png", np.full((8, 8, 3), (200, 100, 50), np.uint8))
    got = load_image(tmp_path / "x.png", 8, grayscale=True)
    assert got.shape == (8, 8, 1)
    # ITU-R 601-2: L = R * 299/1000 + G * 587/1000 + B * 114/1000 = 124.2
    assert np.all(got == 124)


# ---------------------------------------------------------------------------------- formats and modes


@pytest.mark.parametrize(
    ("fmt", "kwargs", "tol"),
    [
        ("PNG", {}, 0),
        ("BMP", {}, 0),
        ("GIF", {}, 0),
        ("WEBP", {"lossless": True}, 0),
        ("JPEG", {"quality": 95}, 3),
    ],
)
def test_formats_decode_to_the_colour_written(tmp_path, fmt, kwargs, tol):
    colour = (200, 40, 120)
    path = tmp_path / f"x.{fmt.lower()}"
    Image.new("RGB", (16, 16), colour).save(path, fmt, **kwargs)
    got = load_image(path, 16)
    assert got.shape == (16, 16, 3) and got.dtype == np.uint8
    assert np.abs(got.astype(int) - colour).max() <= tol


def _alpha_on_white(c: int, a: int) -> int:
    return int(np.floor(c * a / 255 + 255 * (1 - a / 255) + 0.5))


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparency_is_composited_on_white(tmp_path, mode):
    colour = (10, 200, 60, 100) if mode == "RGBA" else (10, 100)
    Image.new(mode, (6, 6), colour).save(tmp_path / "x.png")
    got = load_image(tmp_path / "x.png", 6)
    values = colour[:-1] if mode == "RGBA" else (colour[0],) * 3
    expected = [_alpha_on_white(c, colour[-1]) for c in values]
    assert np.abs(got.astype(int) - expected).max() <= 1


def test_palette_with_transparent_index_is_composited_on_white(tmp_path):
    im = Image.new("P", (4, 4), 1)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.putpixel((0, 0), 0)
    im.save(tmp_path / "x.png", transparency=0)
    got = load_image(tmp_path / "x.png", 4)
    np.testing.assert_array_equal(got[0, 0], [255, 255, 255])  # transparent black -> white
    np.testing.assert_array_equal(got[1, 1], [255, 0, 0])


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (16, 16), (255, 0, 0, 0)).save(tmp_path / "x.jpg", quality=95)  # pure cyan
    got = load_image(tmp_path / "x.jpg", 16)
    assert np.abs(got.astype(int) - (0, 255, 255)).max() <= 3


def test_16_bit_grey_is_scaled_to_8_bits(tmp_path):
    a = np.array([[0, 257, 40000, 65535]], dtype=np.uint16)
    Image.fromarray(a).save(tmp_path / "x.png")  # a 16-bit greyscale PNG
    with Image.open(tmp_path / "x.png") as im:
        assert im.mode.startswith("I")
    got = load_image(tmp_path / "x.png", 4, grayscale=True)[:1, :, 0]
    # resized 4x1 -> 4x4 only stretches rows; row 0 holds the values / 257
    np.testing.assert_array_equal(got[0], np.floor(a[0] / 257 + 0.5).astype(np.uint8))


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((8, 8, 3), np.uint8)
    a[:, 4:] = 255  # left black, right white
    im = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = 3  # rotated 180 degrees
    im.save(tmp_path / "x.png", exif=exif)
    np.testing.assert_array_equal(load_image(tmp_path / "x.png", 8), a[::-1, ::-1])


def test_bilinear_downscale_by_two_matches_the_triangle_filter(tmp_path):
    # 2x2 constant blocks, downscaled 2x with an antialiased bilinear (triangle) filter of support 2:
    # out[i] = (B[i-1] / 4 + 3 B[i] / 2 + B[i+1] / 4) / 2 per axis, weights renormalised at the edges.
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, size=(5, 5, 3)).astype(np.float64)

    def along(x, axis):
        x = np.moveaxis(x, axis, 0)
        out = np.zeros_like(x)
        for i in range(x.shape[0]):
            w = {i - 1: 0.25, i: 1.5, i + 1: 0.25}
            w = {k: v for k, v in w.items() if 0 <= k < x.shape[0]}
            out[i] = sum(v * x[k] for k, v in w.items()) / sum(w.values())
        return np.moveaxis(out, 0, axis)

    sq = np.repeat(np.repeat(blocks, 2, axis=0), 2, axis=1).astype(np.uint8)  # 10 x 10
    save_png(tmp_path / "sq.png", sq)
    expected = along(along(blocks, 1), 0)
    got = load_image(tmp_path / "sq.png", 5).astype(np.float64)
    assert np.abs(got - expected).max() <= 1.0  # Pillow rounds to 8 bits between its two passes


def test_resize_is_pillow_bilinear_like_torchvision_resize(tmp_path):
    # torchvision.transforms.Resize((s, s)) on a PIL image calls Image.resize((s, s), BILINEAR).
    a = np.random.default_rng(3).integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    save_png(tmp_path / "x.png", a)
    expected = np.asarray(Image.fromarray(a).resize((16, 16), Image.BILINEAR))
    np.testing.assert_array_equal(load_image(tmp_path / "x.png", 16), expected)


def test_large_jpeg_uses_draft_and_stays_close(tmp_path):
    a = np.zeros((512, 512, 3), np.uint8)
    a[:, 256:] = (250, 30, 30)
    Image.fromarray(a).save(tmp_path / "x.jpg", quality=95)
    with Image.open(tmp_path / "x.jpg") as im:
        full = np.asarray(im.convert("RGB").resize((32, 32), Image.BILINEAR)).astype(int)
    got = load_image(tmp_path / "x.jpg", 32).astype(int)
    assert np.abs(got - full).max() <= 12 and np.abs(got - full).mean() < 1.0


# ----------------------------------------------------------------------------------------- bad input


def _bad_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    good = io.BytesIO()
    Image.new("RGB", (40, 40), (1, 2, 3)).save(good, "PNG")
    data = good.getvalue()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 a JPEG header, then nothing right" * 10)
    (folder / "garbage.jpg").write_bytes(np.random.default_rng(0).integers(1, 255, 300, np.uint8).tobytes())
    (folder / "notes.txt").write_text("hello")
    (folder / "empty.png").write_bytes(b"")
    Image.new("RGB", (4, 4)).save(folder / "image.tiff")
    bomb_png(folder / "bomb.png", side=20000)
    bomb_png(folder / "big.png", side=10000)  # over MAX_IMAGE_PIXELS, under twice it: refused as well
    return {
        "truncated.png": "unreadable image",
        "corrupt.jpg": "unreadable image",
        "garbage.jpg": "not a JPEG, PNG, BMP, GIF or WebP image",
        "notes.txt": "not a JPEG, PNG, BMP, GIF or WebP image",
        "empty.png": "not a JPEG, PNG, BMP, GIF or WebP image",
        "image.tiff": "not a JPEG, PNG, BMP, GIF or WebP image",
        "bomb.png": "decompression bomb",
        "big.png": "decompression bomb",
    }


def test_bad_files_raise_one_line_data_errors(tmp_path):
    for name, reason in _bad_files(tmp_path).items():
        with pytest.raises(DataError) as info:
            load_image(tmp_path / name, 8)
        message = str(info.value)
        assert "\n" not in message and name in message and reason in message
    with pytest.raises(DataError, match="no such file"):
        load_image(tmp_path / "missing.png", 8)
    with pytest.raises(DataError, match="image_size"):
        load_image(tmp_path / "notes.txt", 0)


def test_bad_files_are_skipped_and_listed_and_the_load_goes_on(tmp_path, recwarn):
    written = make_folder(tmp_path, {"cats": 3, "dogs": 3})
    reasons = _bad_files(tmp_path / "train" / "dogs")
    filters = list(warnings.filters)
    ds = load_dataset(tmp_path, image_size=12, cache=False)
    assert warnings.filters == filters  # the bomb warnings were silenced, and the filters restored
    assert not [w for w in recwarn if "decompression" in str(w.message).lower()]
    assert len(ds.train) == 6 and len(ds.test) == 6
    assert sorted(ds.train.paths + ds.test.paths) == sorted(written)
    assert {os.path.basename(p): r for p, r in ds.skipped}.keys() == reasons.keys()
    for path, reason in ds.skipped:
        assert reasons[os.path.basename(path)] in reason and "\n" not in reason
        assert path.startswith(str(tmp_path / "train" / "dogs"))


# ------------------------------------------------------------------------------------- fatal errors


def _fatal(root, match):
    with pytest.raises(DataError, match=match) as info:
        load_dataset(root, image_size=8, cache=False)
    assert "\n" not in str(info.value)


def test_missing_directory(tmp_path):
    _fatal(tmp_path / "nope", r"does not exist; expected DIR/train/<class>/\* and DIR/test/<class>/\*")


def test_file_instead_of_directory(tmp_path):
    (tmp_path / "f").write_text("x")
    _fatal(tmp_path / "f", "is not a directory")


def test_no_class_folders(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / ".git").mkdir()
    _fatal(tmp_path, "no class folders")


def test_one_class_only(tmp_path):
    make_folder(tmp_path, {"cats": 2}, splits=("",))
    _fatal(tmp_path, "at least two classes")


def test_empty_class_folder(tmp_path):
    make_folder(tmp_path, {"cats": 2, "dogs": 2})
    for f in (tmp_path / "test" / "dogs").iterdir():
        f.unlink()
    _fatal(tmp_path, r"test/dogs is empty; expected image files")


def test_class_with_only_unreadable_files(tmp_path):
    make_folder(tmp_path, {"cats": 2, "dogs": 2}, splits=("",))
    for f in (tmp_path / "dogs").iterdir():
        f.write_bytes(b"not an image")
    _fatal(tmp_path, "dogs has no readable images")


def test_train_without_test(tmp_path):
    make_folder(tmp_path, {"cats": 2, "dogs": 2}, splits=("train",))
    _fatal(tmp_path, "has a train/ folder but no test/ folder")


def test_train_and_test_classes_differ(tmp_path):
    make_folder(tmp_path, {"cats": 2, "dogs": 2}, splits=("train",))
    make_folder(tmp_path, {"cats": 2, "wolves": 2}, splits=("test",))
    _fatal(tmp_path, r"class folders differ .*\['cats', 'dogs'\].*\['cats', 'wolves'\]")


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_bad_image_size(tmp_path, size):
    make_folder(tmp_path, {"cats": 1, "dogs": 1})
    with pytest.raises(DataError, match="image_size"):
        load_dataset(tmp_path, image_size=size, cache=False)
