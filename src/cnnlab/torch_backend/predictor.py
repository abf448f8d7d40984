"""Torch inference: log-probabilities of a model, and a trained run as a :class:`cnnlab.predict.Predictor`.

``load(run, checkpoint)`` reads ``config.json`` and ``best.pt`` / ``last.pt`` (with
``torch.load(weights_only=True)`` and its checksum verified, :mod:`cnnlab.torch_backend.checkpoint`)
and rebuilds the model on the CPU.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.engine.average import averaged_or_raw
from cnnlab.errors import RunDirError
from cnnlab.predict import batched_probabilities, check_images
from cnnlab.rundir import RunDir
from cnnlab.torch_backend.checkpoint import load_checkpoint
from cnnlab.torch_backend.device import select_device, to_input
from cnnlab.torch_backend.models import build_model

#: Images per forward pass when evaluating.
EVAL_BATCH = 256


@torch.no_grad()
def predict_logprobs(
    model: nn.Module, x: torch.Tensor, tta_flip: bool, batch_size: int = EVAL_BATCH
) -> torch.Tensor:
    """Log-probabilities ``(N, K)`` float32 of normalised inputs ``x (N, C, H, W)`` in eval mode.

    With ``tta_flip`` the probabilities of each image and its horizontal mirror are averaged:
    ``p = (softmax(f(x)) + softmax(f(flip(x)))) / 2``. The model's train/eval mode is restored.
    """
    was_training = model.training
    model.eval()
    outs = []
    autocast = x.device.type == "cuda"
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            logp = F.log_softmax(model(xb).float(), dim=1)
            if tta_flip:
                logp_f = F.log_softmax(model(xb.flip(3)).float(), dim=1)
                logp = torch.logaddexp(logp, logp_f) - math.log(2.0)
        outs.append(logp.float())
    model.train(was_training)
    return torch.cat(outs) if outs else torch.zeros(0, 0)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, tta_flip: bool) -> tuple[float, float]:
    """``(mean negative log-likelihood, accuracy)`` of ``model`` on ``x (N, C, H, W)``, ``y (N,)``."""
    logp = predict_logprobs(model, x, tta_flip)
    loss = F.nll_loss(logp, y).item()
    acc = (logp.argmax(1) == y).float().mean().item()
    return loss, acc


class TorchPredictor:
    """Class probabilities and feature maps of a trained ``torch.nn.Sequential``.

    Attributes: ``classes`` (label ``k`` is ``classes[k]``), ``image_size``, ``backend = "torch"``,
    ``tta_flip`` (the run's recipe), ``model`` (in eval mode), ``device``.
    """

    backend = "torch"

    def __init__(
        self,
        model: torch.nn.Module,
        classes: list[str],
        image_size: int,
        tta_flip: bool = False,
        device: torch.device | str = "cpu",
    ):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.classes = list(classes)
        self.image_size = int(image_size)
        self.tta_flip = bool(tta_flip)

    def _check(self, images: np.ndarray, ndim: int, what: str) -> np.ndarray:
        return check_images(images, ndim, self.image_size, 3, what, kind="RGB images")

    def predict_proba(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """``images``: (N, H, W, 3) uint8 -> probabilities (N, K) float64, rows summing to 1.

        Averages the probabilities of each image and its mirror when the run's recipe has ``tta_flip``.
        """
        images = self._check(images, 4, "predict_proba")
        return batched_probabilities(
            images,
            batch_size,
            len(self.classes),
            lambda batch: (
                predict_logprobs(self.model, to_input(batch, self.device), self.tta_flip, batch_size)
                .double()
                .cpu()
                .numpy()
            ),
        )

    @torch.no_grad()
    def feature_maps(self, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """``image``: (H, W, 3) uint8 -> ``[("conv1", (h, w, c)), ...]``, the activations after each
        Conv -> ReLU pair, float32, channels last."""
        image = self._check(image, 3, "feature_maps")
        x = to_input(image[None], self.device)
        maps = []
        layers = list(self.model)
        for i, layer in enumerate(layers):
            x = layer(x)
            if isinstance(layer, torch.nn.ReLU) and i > 0 and isinstance(layers[i - 1], torch.nn.Conv2d):
                maps.append((f"conv{len(maps) + 1}", x[0].permute(1, 2, 0).float().cpu().numpy().copy()))
        return maps


def load(run: RunDir | str, checkpoint: str = "best", device: str = "cpu") -> TorchPredictor:
    """The predictor of torch run directory ``run`` from its ``"best"`` or ``"last"`` checkpoint."""
    run = run if isinstance(run, RunDir) else RunDir.open(run)
    cfg = run.config
    if cfg.get("backend") != "torch":
        raise RunDirError(f"{run.path} was trained by the {cfg.get('backend')!r} backend, not torch")
    path = run.checkpoint(checkpoint)
    if not path.is_file():
        raise RunDirError(f"{path} is missing (the run has no {checkpoint!r} checkpoint yet)")
    state = averaged_or_raw(load_checkpoint(path)[0], "model")  # the weight average where there is one
    recipe = cfg.get("recipe", {})
    model = build_model(cfg["model"], cfg["image_size"], cfg["num_classes"], recipe.get("dropout", 0.0))
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise RunDirError(f"{path} does not fit the {cfg['model']!r} model of config.json: {exc}") from None
    return TorchPredictor(
        model, cfg["classes"], cfg["image_size"], bool(recipe.get("tta_flip", False)), select_device(device)
    )
