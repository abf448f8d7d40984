"""The torch predictor of a trained run against the same model evaluated by hand in float64."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from cnnlab.data import load_dataset, normalize, to_nchw  # noqa: E402
from cnnlab.errors import DataError, RunDirError  # noqa: E402
from cnnlab.runs.predictor import load_predictor  # noqa: E402
from cnnlab.torch_backend import build_model  # noqa: E402
from cnnlab.torch_backend.checkpoint import load_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def images():
    return load_dataset(None, image_size=16).test.images[:20]


def _float64_model(run, checkpoint="best"):
    model = build_model("simple", dropout=0.2).double().eval()
    model.load_state_dict(load_checkpoint(run.checkpoint(checkpoint))[0]["model"])
    return model


def test_probabilities_are_the_flip_averaged_softmax(trained_run, images):
    pred = load_predictor(trained_run.path)
    assert pred.backend == "torch" and pred.classes == ["cats", "dogs"] and pred.image_size == 16
    p = pred.predict_proba(images, batch_size=7)  # several batches
    assert p.shape == (20, 2) and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    model = _float64_model(trained_run)
    x = torch.from_numpy(to_nchw(normalize(images))).double()
    with torch.no_grad():
        want = ((F.softmax(model(x), 1) + F.softmax(model(x.flip(3)), 1)) / 2).numpy()
    np.testing.assert_allclose(p, want, atol=1e-5)
    assert not np.allclose(want, F.softmax(model(x), 1).detach().numpy(), atol=1e-4)  # TTA matters


def test_last_checkpoint_and_feature_maps(trained_run, images):
    pred = load_predictor(trained_run.path, "last")
    maps = pred.feature_maps(images[0])
    assert [name for name, _ in maps] == ["conv1"]
    fmap = maps[0][1]
    assert fmap.shape == (18, 18, 16)  # 16x16 input, 3x3 conv, pad 2
    model = _float64_model(trained_run, "last")
    x = torch.from_numpy(to_nchw(normalize(images[:1]))).double()
    want = F.relu(F.conv2d(x, model[0].weight, model[0].bias, padding=2))[0].permute(1, 2, 0).detach().numpy()
    np.testing.assert_allclose(fmap, want, atol=1e-5)


def test_bad_inputs_are_named(trained_run, images):
    pred = load_predictor(trained_run.path)
    with pytest.raises(DataError, match=r"uint8 RGB images of shape \('N', 16, 16, 3\), got float32"):
        pred.predict_proba(images.astype(np.float32))
    with pytest.raises(DataError, match=r"got uint8 \(2, 32, 32, 3\)"):
        pred.predict_proba(np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(DataError, match=r"\(16, 16, 3\)"):
        pred.feature_maps(images[:1])
    assert pred.predict_proba(images[:0]).shape == (0, 2)


def test_missing_or_corrupt_checkpoint(trained_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained_run.path, copy)
    (copy / "best.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RunDirError, match="not a readable cnnlab checkpoint"):
        load_predictor(copy)
    (copy / "best.pt").unlink()
    with pytest.raises(RunDirError, match="missing"):
        load_predictor(copy)


class _Payload:
    """Something only a full unpickler would build (what ``weights_only=False`` would run)."""

    def __init__(self):
        self.x = 1


def test_a_pickled_or_empty_or_flipped_checkpoint_is_one_line(trained_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained_run.path, copy)
    torch.save({"model": _Payload()}, copy / "best.pt")
    with pytest.raises(RunDirError, match="a safe load refuses") as err:
        load_predictor(copy)
    assert "\n" not in str(err.value) and "weights_only=False" not in str(err.value)
    (copy / "best.pt").write_bytes(b"")
    with pytest.raises(RunDirError, match="is empty"):
        load_predictor(copy)
    # flipped bytes inside a tensor: torch's reader does not notice, the checksum does
    shutil.copy(trained_run.checkpoint("best"), copy / "best.pt")
    state, _ = load_checkpoint(copy / "best.pt")
    raw = bytearray((copy / "best.pt").read_bytes())
    needle = state["model"]["5.weight"].numpy().tobytes()[:16]  # a Linear: contiguous storage
    at = bytes(raw).index(needle)
    raw[at : at + 64] = bytes(b ^ 0x5A for b in raw[at : at + 64])
    (copy / "best.pt").write_bytes(bytes(raw))
    with pytest.raises(RunDirError, match="is corrupt: its contents do not match the checksum"):
        load_predictor(copy)
