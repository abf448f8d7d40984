"""The torchinfo summary against the layer specs and against the NumPy backend's summary."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("torchinfo")

from cnnlab.architectures import Conv, Linear, get_architecture, output_shapes
from cnnlab.torch_backend.summary import summary_rows, summary_text


@pytest.mark.parametrize(("name", "size", "total"), [("cnn", 64, 548_258), ("simple", 16, 3_042)])
def test_rows_match_the_specs(name, size, total):
    rows = summary_rows(name)
    specs = get_architecture(name)
    shapes = output_shapes(specs, size)
    assert [r["index"] for r in rows] == list(range(len(specs)))
    assert [tuple(r["output_shape"][1:]) for r in rows] == shapes
    prev = (3, size, size)
    for spec, shape, r in zip(specs, shapes, rows, strict=True):
        if isinstance(spec, Conv):
            params = spec.kernel_size**2 * prev[0] * spec.out_channels + spec.out_channels
            assert r["params"] == params
            assert r["mult_adds"] == params * shape[1] * shape[2]
        elif isinstance(spec, Linear):
            params = math.prod(prev) * spec.out_features + spec.out_features
            assert r["params"] == params == r["mult_adds"]
        else:
            assert r["params"] == 0
        prev = shape
    assert sum(r["params"] for r in rows) == total
    assert f"Total params: {total:,}" in summary_text(name)


def test_same_numbers_as_the_numpy_summary():
    nn_summary = pytest.importorskip("cnnlab.nn.summary")
    from cnnlab.nn import build_model

    ours = summary_rows("cnn", dropout=0.3)
    theirs = nn_summary.summarize(build_model("cnn", dropout=0.3))
    assert [r["params"] for r in ours] == [r.params for r in theirs.rows]
    assert [r["mult_adds"] for r in ours] == [r.mult_adds for r in theirs.rows]
    assert [r["output_shape"] for r in ours] == [list(r.output_shape) for r in theirs.rows]
