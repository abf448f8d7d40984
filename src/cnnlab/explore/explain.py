"""What the Model tab shows about a trained run, computed by the run's own backend (no Shiny).

- :func:`test_split`: the run's own test images (the split the trainer held out, via
  :func:`cnnlab.runs.evaluate.load_run_data`) with the predictor's probabilities, mistakes first.
- :func:`logits`: the last layer's output ``(K,)`` for one image (before the softmax).
- :func:`saliency`: ``max_c |d logit_k / d x[:, :, c]|`` ``(H, W)``, the gradient of the class score with
  respect to the normalised input, by the backend's own backward pass (NumPy ``Sequential.backward`` or
  torch autograd).
- :func:`gradcam`: Grad-CAM on the last conv layer (after its ReLU): ``relu(sum_c alpha_c A[:, :, c])``,
  ``alpha_c = mean_{i,j} d logit_k / d A[i, j, c]``, ``(h, w)`` at that layer's resolution.
- :func:`conv_filters`: each conv layer's weights as ``(f, f, C_in, C_out)`` (the NumPy layout).

Each takes a predictor from :func:`cnnlab.runs.predictor.load_predictor` (``backend`` ``"numpy"`` or
``"torch"``) and a uint8 ``(H, W, 3)`` image at the run's ``image_size``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlab.errors import CnnlabError


@dataclass(frozen=True)
class TestSplit:
    """The run's test images and what the model says about them, mistakes first, then by class."""

    classes: list[str]
    images: np.ndarray  # (N, H, W, 3) uint8
    labels: np.ndarray  # (N,) int64, indices into classes
    proba: np.ndarray  # (N, K) float64 from predictor.predict_proba
    paths: list[str]
    order: np.ndarray  # (N,) indices: mistakes first (most confident first), then the rest, by class

    @property
    def predictions(self) -> np.ndarray:
        return np.argmax(self.proba, axis=1)


def test_split(run: Any, predictor: Any, limit: int = 400) -> TestSplit:
    """The first ``limit`` test images of ``run`` (a :class:`cnnlab.runs.RunDir`) and their probabilities."""
    from cnnlab.runs.evaluate import load_run_data, map_labels

    data = load_run_data(run)
    classes = list(predictor.classes)
    images = data.test.images[:limit]
    labels = map_labels(data.test.labels[:limit], list(data.classes), classes)
    if images.shape[0] == 0:
        raise CnnlabError(f"{run.path}: the run's test split holds no images")
    proba = np.asarray(predictor.predict_proba(images), dtype=np.float64)
    pred = np.argmax(proba, axis=1)
    wrong = pred != labels
    confidence = proba[np.arange(len(labels)), pred]
    # mistakes first (most confident mistakes first), then by true class, then by index
    order = np.lexsort((np.arange(len(labels)), labels, np.where(wrong, -confidence, 0.0), ~wrong))
    return TestSplit(classes, images, labels, proba, list(data.test.paths[:limit]), order)


def _numpy_input(predictor: Any, image: np.ndarray) -> np.ndarray:
    from cnnlab.data import normalize

    return normalize(image[None]).astype(predictor.model.dtype, copy=False)


def _torch_input(predictor: Any, image: np.ndarray):
    from cnnlab.torch_backend.device import to_input

    return to_input(image[None], predictor.device)


def _check(predictor: Any, image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    s = int(predictor.image_size)
    if image.dtype != np.uint8 or image.shape != (s, s, 3):
        raise CnnlabError(f"expected a uint8 picture of shape ({s}, {s}, 3), got {image.dtype} {image.shape}")
    return image


def _backend(predictor: Any) -> str:
    backend = getattr(predictor, "backend", None)
    if backend not in ("numpy", "torch"):
        raise CnnlabError(f"the Model tab knows the numpy and torch backends, not {backend!r}")
    return backend


def logits(predictor: Any, image: np.ndarray) -> np.ndarray:
    """The model's output ``(K,)`` float64 for ``image (H, W, 3)`` uint8, before the softmax (no flip)."""
    image = _check(predictor, image)
    if _backend(predictor) == "numpy":
        model = predictor.model
        out = model.forward(_numpy_input(predictor, image))
        model.clear()
        return np.asarray(out[0], dtype=np.float64)
    import torch

    with torch.no_grad():
        return predictor.model(_torch_input(predictor, image))[0].double().cpu().numpy()


def softmax(z: np.ndarray) -> np.ndarray:
    """``exp(z - max z) / sum exp(z - max z)`` of ``z (K,)``."""
    e = np.exp(np.asarray(z, dtype=np.float64) - np.max(z))
    return e / e.sum()


def _last_conv_index(layers: list[Any], conv_type: type, relu_type: type) -> int:
    """Index of the ReLU after the last conv layer."""
    idx = [
        i
        for i in range(1, len(layers))
        if isinstance(layers[i], relu_type) and isinstance(layers[i - 1], conv_type)
    ]
    if not idx:
        raise CnnlabError("this model has no conv layer, so there is no Grad-CAM")
    return idx[-1]


def saliency(predictor: Any, image: np.ndarray, k: int) -> np.ndarray:
    """``|d logit_k / d x|`` maximised over the colour channels: ``(H, W)`` float64 (the input normalised
    as the model sees it)."""
    image = _check(predictor, image)
    K = len(predictor.classes)
    if not 0 <= k < K:
        raise CnnlabError(f"class {k} does not exist; the model has {K}")
    if _backend(predictor) == "numpy":
        model = predictor.model
        out = model.forward(_numpy_input(predictor, image))
        dout = np.zeros_like(out)
        dout[0, k] = 1.0
        dx = model.backward(dout)
        model.clear()
        return np.abs(np.asarray(dx[0], dtype=np.float64)).max(axis=2)
    x = _torch_input(predictor, image).clone().requires_grad_(True)
    predictor.model(x)[0, k].backward()
    return x.grad[0].abs().amax(dim=0).double().cpu().numpy()


def gradcam(predictor: Any, image: np.ndarray, k: int) -> np.ndarray:
    """Grad-CAM of class ``k`` on the last conv layer: ``(h, w)`` float64, ``>= 0``."""
    image = _check(predictor, image)
    if _backend(predictor) == "numpy":
        from cnnlab.nn.layers import Conv2D, ReLU

        model = predictor.model
        layers = model.layers
        j = _last_conv_index(layers, Conv2D, ReLU)
        x = _numpy_input(predictor, image)
        for i, layer in enumerate(layers):
            x = layer.forward(x)
            if i == j:
                A = np.asarray(x[0], dtype=np.float64)
        dout = np.zeros_like(x)
        dout[0, k] = 1.0
        for i in range(len(layers) - 1, j, -1):
            dout = layers[i].backward(dout)
        model.clear()
        grad = np.asarray(dout[0], dtype=np.float64)  # (h, w, C)
    else:
        import torch

        layers = list(predictor.model)
        j = _last_conv_index(layers, torch.nn.Conv2d, torch.nn.ReLU)
        x = _torch_input(predictor, image)
        with torch.no_grad():
            for layer in layers[: j + 1]:
                x = layer(x)
        act = x.detach().clone().requires_grad_(True)
        y = act
        for layer in layers[j + 1 :]:
            y = layer(y)
        y[0, k].backward()
        A = act[0].detach().permute(1, 2, 0).double().cpu().numpy()
        grad = act.grad[0].permute(1, 2, 0).double().cpu().numpy()
    alpha = grad.mean(axis=(0, 1))
    return np.maximum(A @ alpha, 0.0)


def conv_filters(predictor: Any) -> list[tuple[str, np.ndarray]]:
    """``[("conv1", W (f, f, C_in, C_out)), ...]`` float64, in the order of :meth:`feature_maps`."""
    out = []
    if _backend(predictor) == "numpy":
        from cnnlab.nn.layers import Conv2D

        for layer in predictor.model.layers:
            if isinstance(layer, Conv2D):
                out.append((f"conv{len(out) + 1}", np.asarray(layer.params["weight"], dtype=np.float64)))
        return out
    import torch

    for layer in predictor.model:
        if isinstance(layer, torch.nn.Conv2d):
            w = layer.weight.detach().permute(2, 3, 1, 0).double().cpu().numpy()
            out.append((f"conv{len(out) + 1}", w))
    return out
