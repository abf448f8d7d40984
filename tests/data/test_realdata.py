"""The lab's Kaggle photos (skipped when ../shared/data/cats-and-dogs is absent)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnlab.data import load_dataset

pytestmark = pytest.mark.realdata


def test_kaggle_set_loads_like_the_lab(real_data):
    ds = load_dataset(real_data)
    assert ds.classes == ["cats", "dogs"]  # ImageFolder's order: cats = 0, dogs = 1
    assert ds.skipped == []
    assert ds.train.images.shape == (557, 64, 64, 3) and ds.test.images.shape == (140, 64, 64, 3)
    np.testing.assert_array_equal(ds.train.counts(2), [279, 278])
    np.testing.assert_array_equal(ds.test.counts(2), [70, 70])
    # Each image is what the lab's Resize((64, 64)) makes of the RGB photo: PIL's antialiased bilinear.
    for split in (ds.train, ds.test):
        for i in np.random.default_rng(0).choice(len(split), 5, replace=False):
            with Image.open(split.paths[i]) as im:
                expected = np.asarray(im.convert("RGB").resize((64, 64), Image.BILINEAR))
            np.testing.assert_array_equal(split.images[i], expected)
    again = load_dataset(real_data)  # from the cache
    np.testing.assert_array_equal(again.train.images, ds.train.images)
    assert again.test.paths == ds.test.paths
