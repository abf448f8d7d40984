"""The Model tab's numbers (cnnlab.explore.explain) on small untrained models of both backends.

Oracles: the predictor's own probabilities (softmax of the logits), centred differences of the NumPy
model in float64 (saliency, Grad-CAM's alphas), and the torch backend given the same weights
(``cnnlab.nn.convert``), which must agree with the NumPy backend.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.explore import explain as X

SIZE = 16


def numpy_predictor(dtype=np.float64):
    from cnnlab.nn.model import build_model
    from cnnlab.nn.predictor import NumpyPredictor

    model = build_model("cnn", image_size=SIZE, num_classes=2, dtype=dtype, seed=3)
    return NumpyPredictor(model, ["cats", "dogs"], SIZE)


def image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


def test_softmax_of_the_logits_is_the_predictors_probability():
    p = numpy_predictor()
    img = image()
    z = X.logits(p, img)
    assert z.shape == (2,)
    np.testing.assert_allclose(X.softmax(z), p.predict_proba(img[None])[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(X.softmax(np.array([1000.0, 0.0])), [1.0, 0.0])  # no overflow


def _score(p, x: np.ndarray, k: int) -> float:
    out = p.model.forward(x[None])
    p.model.clear()
    return float(out[0, k])


def test_saliency_is_the_gradient_of_the_class_score_by_centred_differences():
    from cnnlab.data import normalize

    p = numpy_predictor()
    img = image(1)
    sal = X.saliency(p, img, 1)
    assert sal.shape == (SIZE, SIZE) and np.all(sal >= 0)
    x = normalize(img[None])[0].astype(np.float64)
    eps = 1e-6
    for r, c in [(0, 0), (5, 9), (15, 3), (8, 8)]:
        grads = []
        for ch in range(3):
            xp, xm = x.copy(), x.copy()
            xp[r, c, ch] += eps
            xm[r, c, ch] -= eps
            grads.append((_score(p, xp, 1) - _score(p, xm, 1)) / (2 * eps))
        assert sal[r, c] == pytest.approx(max(abs(g) for g in grads), rel=1e-5, abs=1e-9)


def test_gradcam_and_saliency_agree_between_the_backends():
    torch = pytest.importorskip("torch")
    from cnnlab.nn.convert import to_torch_layout
    from cnnlab.torch_backend.models import build_model
    from cnnlab.torch_backend.predictor import TorchPredictor

    np_pred = numpy_predictor(np.float32)
    module = build_model("cnn", image_size=SIZE, num_classes=2)
    state = {
        k: torch.from_numpy(np.ascontiguousarray(v))
        for k, v in to_torch_layout(np_pred.model.state_dict()).items()
    }
    module.load_state_dict(state)
    t_pred = TorchPredictor(module, ["cats", "dogs"], SIZE)
    img = image(2)
    np.testing.assert_allclose(X.logits(t_pred, img), X.logits(np_pred, img), rtol=1e-4, atol=1e-5)
    for k in (0, 1):
        a, b = X.saliency(np_pred, img, k), X.saliency(t_pred, img, k)
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5 * np.abs(a).max())
        g_np, g_t = X.gradcam(np_pred, img, k), X.gradcam(t_pred, img, k)
        assert g_np.shape == g_t.shape and g_np.ndim == 2 and np.all(g_np >= 0)
        np.testing.assert_allclose(g_np, g_t, rtol=1e-3, atol=1e-5 * max(np.abs(g_np).max(), 1e-12))
    for (name_a, wa), (name_b, wb) in zip(X.conv_filters(np_pred), X.conv_filters(t_pred), strict=True):
        assert name_a == name_b
        np.testing.assert_allclose(wa, wb, rtol=0, atol=1e-7)


def test_gradcam_is_relu_of_the_alpha_weighted_last_conv_maps():
    from cnnlab.data import normalize
    from cnnlab.nn.layers import Conv2D, ReLU

    p = numpy_predictor()
    img = image(3)
    cam = X.gradcam(p, img, 0)
    layers = p.model.layers
    j = max(
        i for i in range(1, len(layers)) if isinstance(layers[i], ReLU) and isinstance(layers[i - 1], Conv2D)
    )
    x = normalize(img[None]).astype(np.float64)
    for layer in layers[: j + 1]:
        x = layer.forward(x)
    A = x[0].copy()
    p.model.clear()

    def head(a: np.ndarray) -> float:
        y = a[None]
        for layer in layers[j + 1 :]:
            y = layer.forward(y)
        return float(y[0, 0])

    eps = 1e-6
    alpha = np.zeros(A.shape[2])
    for c in range(A.shape[2]):  # alpha_c = mean over (i, j) of d score / d A[i, j, c], by differences
        ap, am = A.copy(), A.copy()
        ap[:, :, c] += eps  # moving every cell of channel c at once sums the gradient over (i, j)
        am[:, :, c] -= eps
        alpha[c] = (head(ap) - head(am)) / (2 * eps) / (A.shape[0] * A.shape[1])
    np.testing.assert_allclose(cam, np.maximum(A @ alpha, 0), rtol=1e-5, atol=1e-9)


def test_a_picture_of_the_wrong_size_is_one_clear_error():
    from cnnlab.errors import CnnlabError

    with pytest.raises(CnnlabError, match=r"expected a uint8 picture of shape \(16, 16, 3\)"):
        X.logits(numpy_predictor(), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(CnnlabError, match="class 5 does not exist"):
        X.saliency(numpy_predictor(), image(), 5)
