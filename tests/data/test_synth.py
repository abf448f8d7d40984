"""The built-in dataset: deterministic pictures, the folder it writes, and its atomic generation."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import cnnlab.data.synth as synth
from cnnlab.data import load_dataset
from cnnlab.errors import DataError


@pytest.mark.parametrize("size", [64, 32, 8])
def test_render_is_deterministic_uint8(size):
    for label in (0, 1):
        a = synth.render(label, 123, size)
        assert a.shape == (size, size, 3) and a.dtype == np.uint8
        np.testing.assert_array_equal(a, synth.render(label, 123, size))
        assert not np.array_equal(a, synth.render(label, 124, size))
    assert not np.array_equal(synth.render(0, 5), synth.render(1, 5))


def test_render_pictures_are_varied():
    imgs = np.stack([synth.render(i % 2, i) for i in range(40)]).astype(np.float64)
    assert imgs.std(axis=0).mean() > 30  # backgrounds, colours and positions vary
    assert 40 < imgs.mean() < 215


@pytest.mark.parametrize(
    ("label", "seed", "size", "match"),
    [(2, 0, 64, "label"), (-1, 0, 64, "label"), (0, 0, 4, "size"), (0, 0, 16.0, "size"), (0, -1, 64, "seed")],
)
def test_render_rejects_bad_arguments(label, seed, size, match):
    with pytest.raises(DataError, match=match):
        synth.render(label, seed, size)


def test_image_seeds_are_distinct_and_stable():
    seeds = {
        synth.image_seed(2023, s, label, i) for s in ("train", "test") for label in (0, 1) for i in range(50)
    }
    assert len(seeds) == 200
    assert synth.image_seed(2023, "train", 0, 0) == synth.image_seed(2023, "train", 0, 0)
    assert synth.image_seed(2023, "train", 0, 0) != synth.image_seed(2024, "train", 0, 0)


def test_write_dataset_layout_and_pixels(tmp_path):
    root = synth.write_dataset(tmp_path / "d", seed=7, counts={"train": 3, "test": 2}, size=16)
    ds = load_dataset(root, image_size=16, cache=False)
    assert ds.classes == ["cats", "dogs"] and ds.skipped == []
    np.testing.assert_array_equal(ds.train.counts(2), [3, 3])
    np.testing.assert_array_equal(ds.test.counts(2), [2, 2])
    for split in ("train", "test"):
        s = getattr(ds, split)
        for img, label, path in zip(s.images, s.labels, s.paths, strict=True):
            index = int(path.rsplit("_", 1)[1].split(".")[0])
            np.testing.assert_array_equal(
                img, synth.render(int(label), synth.image_seed(7, split, int(label), index), 16)
            )
    assert (root / "synth.json").is_file()


def test_write_dataset_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("x")
    with pytest.raises(DataError, match="not empty"):
        synth.write_dataset(tmp_path / "d", counts={"train": 1, "test": 1})
    for bad in ({"train": 1, "val": 1}, {"train": 1}, {"train": 1, "test": 0}):
        with pytest.raises(DataError, match="counts"):
            synth.write_dataset(tmp_path / "e", counts=bad)
        assert not (tmp_path / "e").exists()


def test_builtin_root_is_generated_once_and_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(synth, "BUILTIN_COUNTS", {"train": 2, "test": 1})
    results, errors = [], []
    barrier = threading.Barrier(3)

    def worker():
        try:
            barrier.wait()
            results.append(synth.builtin_root())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    root = results[0]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [root.name]  # no temporary folders left
    assert len(list(root.glob("*/*/*.png"))) == 2 * (2 + 1)

    def boom(*args, **kwargs):
        raise AssertionError("generated again")

    monkeypatch.setattr(synth, "write_dataset", boom)
    assert synth.builtin_root() == root


def test_a_broken_builtin_folder_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(synth, "BUILTIN_COUNTS", {"train": 1, "test": 1})
    final = tmp_path / "cache" / f"builtin-v{synth.VERSION}-seed{synth.BUILTIN_SEED}-{synth.BUILTIN_SIZE}px"
    (final / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="not a complete built-in dataset"):
        synth.builtin_root()


def test_load_dataset_defaults_to_the_builtin_dataset():
    ds = load_dataset()
    assert ds.classes == ["cats", "dogs"] and ds.skipped == []
    n_train, n_test = synth.BUILTIN_COUNTS["train"], synth.BUILTIN_COUNTS["test"]
    assert ds.train.images.shape == (2 * n_train, 64, 64, 3) and ds.test.images.shape == (
        2 * n_test,
        64,
        64,
        3,
    )
    np.testing.assert_array_equal(ds.train.counts(2), [n_train, n_train])
    np.testing.assert_array_equal(ds.test.counts(2), [n_test, n_test])
    i = ds.test.paths.index(str(ds.root / "test" / "dogs" / "dog_0007.png"))
    np.testing.assert_array_equal(
        ds.test.images[i], synth.render(1, synth.image_seed(synth.BUILTIN_SEED, "test", 1, 7))
    )
    small = load_dataset(image_size=32, grayscale=True)
    assert small.train.images.shape == (2 * n_train, 32, 32, 1)
