"""NumPy inference: log-probabilities of a model, and a trained run as a :class:`cnnlab.predict.Predictor`.

``load(run, checkpoint)`` reads ``config.json`` and ``best.npz`` / ``last.npz`` (``allow_pickle=False``)
and rebuilds the model with :func:`cnnlab.nn.build_model`. Inputs are decoded images, uint8 NHWC RGB at
the run's ``image_size``; the predictor normalises them itself (:func:`cnnlab.data.normalize`).
"""

from __future__ import annotations

import numpy as np

from cnnlab.errors import RunDirError
from cnnlab.nn.checkpoint import load_checkpoint
from cnnlab.nn.ema import averaged_or_raw_params
from cnnlab.nn.layers import Conv2D, ReLU
from cnnlab.nn.losses import log_softmax
from cnnlab.nn.model import Sequential, build_model
from cnnlab.predict import batched_probabilities, check_images
from cnnlab.rundir import RunDir

#: Images per forward pass when evaluating (bounds the im2col buffers: ~60 MB at 64x64).
EVAL_BATCH = 64


def predict_logprobs(
    model: Sequential, x: np.ndarray, tta_flip: bool = False, batch_size: int = EVAL_BATCH
) -> np.ndarray:
    """Log-probabilities ``(N, K)`` of normalised images ``x (N, H, W, C)``, evaluation mode, in batches.

    With ``tta_flip`` the probabilities of each image and its horizontal mirror are averaged:
    ``log p = logaddexp(log p(x), log p(flip(x))) - log 2``. The model's mode is restored.
    """
    was_training = model.training
    model.eval()
    out = []
    try:
        for i in range(0, x.shape[0], batch_size):
            xb = x[i : i + batch_size]
            logp = log_softmax(model.forward(xb))
            if tta_flip:
                logp_flip = log_softmax(model.forward(np.ascontiguousarray(xb[:, :, ::-1, :])))
                logp = np.logaddexp(logp, logp_flip) - np.log(2.0).astype(logp.dtype)
            out.append(logp)
    finally:
        model.train(was_training)
        model.clear()
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=model.dtype)


class NumpyPredictor:
    """Class probabilities and feature maps of a trained :class:`cnnlab.nn.Sequential`.

    Attributes: ``classes`` (label ``k`` is ``classes[k]``), ``image_size``, ``backend = "numpy"``,
    ``tta_flip`` (from the run's recipe), ``model`` (in evaluation mode).
    """

    backend = "numpy"

    def __init__(
        self, model: Sequential, classes: list[str], image_size: int, tta_flip: bool = False
    ) -> None:
        self.model = model.eval()
        self.classes = list(classes)
        self.image_size = int(image_size)
        self.tta_flip = bool(tta_flip)
        self.channels = model.input_shape[2] if model.input_shape is not None else 3

    def _check(self, images: np.ndarray, ndim: int, what: str) -> np.ndarray:
        return check_images(images, ndim, self.image_size, self.channels, what)

    def _input(self, images: np.ndarray) -> np.ndarray:
        from cnnlab.data import normalize

        return normalize(images).astype(self.model.dtype, copy=False)

    def predict_proba(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """``images``: (N, H, W, C) uint8 -> probabilities (N, K) float64, rows summing to 1.

        Averages the probabilities of each image and its mirror when the run's recipe has ``tta_flip``.
        """
        images = self._check(images, 4, "predict_proba")
        step = max(1, min(batch_size, EVAL_BATCH))  # bounds the im2col buffers
        return batched_probabilities(
            images,
            step,
            len(self.classes),
            lambda batch: predict_logprobs(self.model, self._input(batch), self.tta_flip, step),
        )

    def feature_maps(self, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """``image``: (H, W, C) uint8 -> ``[("conv1", (h, w, c)), ...]``: the activations after each
        Conv -> ReLU pair, float32, channels last (the names the torch predictor uses)."""
        image = self._check(image, 3, "feature_maps")
        x = self._input(image[None])
        maps = []
        layers = self.model.layers
        for i, layer in enumerate(layers):
            x = layer.forward(x)
            if isinstance(layer, ReLU) and i > 0 and isinstance(layers[i - 1], Conv2D):
                maps.append((f"conv{len(maps) + 1}", x[0].astype(np.float32, copy=True)))
        self.model.clear()
        return maps


def load(run: RunDir | str, checkpoint: str = "best") -> NumpyPredictor:
    """The predictor of NumPy run directory ``run`` from its ``"best"`` or ``"last"`` checkpoint."""
    run = run if isinstance(run, RunDir) else RunDir.open(run)
    cfg = run.config
    if cfg.get("backend") != "numpy":
        raise RunDirError(f"{run.path} was trained by the {cfg.get('backend')!r} backend, not numpy")
    path = run.checkpoint(checkpoint)
    if not path.is_file():
        raise RunDirError(f"{path} is missing (the run has no {checkpoint!r} checkpoint yet)")
    params, optimizer_state, _ = load_checkpoint(path)
    # the weight average where there is one (``last.npz`` holds it beside the raw weights)
    params = averaged_or_raw_params(params, optimizer_state)
    recipe = cfg.get("recipe", {})
    try:
        model = build_model(
            cfg["model"],
            image_size=cfg["image_size"],
            num_classes=cfg["num_classes"],
            dropout=recipe.get("dropout", 0.0),
            dtype=cfg.get("dtype", "float32"),
            seed=0,
            in_channels=cfg.get("channels", cfg.get("in_channels", 3)),
        )
        model.load_state_dict(params)
    except (KeyError, ValueError) as exc:
        raise RunDirError(f"{path} does not fit the model of {run.path / 'config.json'}: {exc}") from None
    return NumpyPredictor(model, cfg["classes"], cfg["image_size"], bool(recipe.get("tta_flip", False)))
