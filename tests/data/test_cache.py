"""The decoded-image cache: hits, stale keys, corrupt files, and a cache directory that cannot be used."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import cnnlab.data.dataset as dataset_module
from cnnlab.data import cache_dir, load_dataset
from tests.data.helpers import make_folder, save_png


@pytest.fixture
def counting(monkeypatch):
    """Counts the calls of the decoder behind load_dataset."""
    calls = []
    real = dataset_module.decode_many

    def wrapped(paths, *args, **kwargs):
        calls.append(len(paths))
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(dataset_module, "decode_many", wrapped)
    return calls


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("CNNLAB_CACHE", str(path))
    return path


def _cache_files(cache):
    return sorted((cache / "images").glob("*.npz"))


def _same(a, b):
    assert a.classes == b.classes and a.skipped == b.skipped
    for s in ("train", "test"):
        x, y = getattr(a, s), getattr(b, s)
        np.testing.assert_array_equal(x.images, y.images)
        np.testing.assert_array_equal(x.labels, y.labels)
        assert x.paths == y.paths


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLAB_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("CNNLAB_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "cnnlab"


def test_second_load_comes_from_the_cache(tmp_path, own_cache, counting):
    make_folder(tmp_path / "d", {"cats": 3, "dogs": 2})
    (tmp_path / "d" / "train" / "cats" / "bad.png").write_bytes(b"nope")
    first = load_dataset(tmp_path / "d", image_size=8)
    second = load_dataset(tmp_path / "d", image_size=8)
    assert counting == [11]
    assert len(_cache_files(own_cache)) == 1
    _same(first, second)
    assert len(second.skipped) == 1  # the skipped list is cached too
    uncached = load_dataset(tmp_path / "d", image_size=8, cache=False)
    _same(first, uncached)
    assert counting == [11, 11]


def test_size_and_mode_have_their_own_cache_files(tmp_path, own_cache, counting):
    make_folder(tmp_path / "d", {"cats": 2, "dogs": 2})
    a = load_dataset(tmp_path / "d", image_size=8)
    b = load_dataset(tmp_path / "d", image_size=6)
    c = load_dataset(tmp_path / "d", image_size=8, grayscale=True)
    assert a.train.images.shape[1:] == (8, 8, 3) and b.train.images.shape[1:] == (6, 6, 3)
    assert c.train.images.shape[1:] == (8, 8, 1)
    for _ in range(2):
        load_dataset(tmp_path / "d", image_size=8)
        load_dataset(tmp_path / "d", image_size=6)
        load_dataset(tmp_path / "d", image_size=8, grayscale=True)
    assert len(counting) == 3 and len(_cache_files(own_cache)) == 3


def test_flat_split_settings_reuse_the_cache(tmp_path, own_cache, counting):
    make_folder(tmp_path / "d", {"cats": 6, "dogs": 6}, splits=("",))
    a = load_dataset(tmp_path / "d", image_size=8, seed=1)
    b = load_dataset(tmp_path / "d", image_size=8, seed=2, test_fraction=0.5)
    assert len(counting) == 1
    assert len(b.test) == 6 and len(a.test) == 2


def test_changed_added_and_removed_files_rebuild_the_cache(tmp_path, own_cache, counting):
    written = make_folder(tmp_path / "d", {"cats": 2, "dogs": 2})
    load_dataset(tmp_path / "d", image_size=8)
    # replace one file's pixels (the mtime moves forward)
    target = sorted(written)[0]
    new = np.full((12, 12, 3), 7, np.uint8)
    save_png(tmp_path / target, new)
    st = os.stat(target)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    ds = load_dataset(tmp_path / "d", image_size=8)
    assert len(counting) == 2
    split = ds.train if target in ds.train.paths else ds.test
    assert np.all(split.images[split.paths.index(target)] == 7)
    # add a file, then remove it
    extra = save_png(tmp_path / "d" / "train" / "dogs" / "extra.png", new)
    assert len(load_dataset(tmp_path / "d", image_size=8).train) == 5
    extra.unlink()
    assert len(load_dataset(tmp_path / "d", image_size=8).train) == 4
    assert len(counting) == 4
    assert len(_cache_files(own_cache)) == 1  # a stale cache is overwritten, not kept beside


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "wrong-arrays", "pickled"])
def test_a_corrupt_cache_file_is_discarded_and_rebuilt(tmp_path, own_cache, counting, damage):
    make_folder(tmp_path / "d", {"cats": 2, "dogs": 2})
    first = load_dataset(tmp_path / "d", image_size=8)
    (path,) = _cache_files(own_cache)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, len(data), np.uint8).tobytes())
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        with np.load(path) as z:
            arrays = dict(z)
        if damage == "wrong-arrays":  # the right key, but images of the wrong shape
            arrays["images"] = arrays["images"][:, :4]
        else:  # an object array, which must never be unpickled
            arrays["images"] = np.array([object()], dtype=object)
        np.savez(path, **arrays)
    second = load_dataset(tmp_path / "d", image_size=8)
    assert len(counting) == 2
    _same(first, second)
    third = load_dataset(tmp_path / "d", image_size=8)  # the rebuilt cache is good again
    assert len(counting) == 2
    _same(first, third)


def test_an_unusable_cache_directory_does_not_stop_the_load(tmp_path, monkeypatch, counting):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("CNNLAB_CACHE", str(blocker))
    make_folder(tmp_path / "d", {"cats": 2, "dogs": 2})
    a = load_dataset(tmp_path / "d", image_size=8)
    b = load_dataset(tmp_path / "d", image_size=8)
    assert len(counting) == 2
    _same(a, b)
    assert not list(tmp_path.glob("**/*.tmp"))
