"""The NumPy backend's engine for the fit loop (:mod:`cnnlab.training.loop`): one epoch, evaluate, state.

The model is :func:`cnnlab.nn.build_model` (seeded by ``recipe.seed``) with PyTorch's default
initialisation (:data:`INIT`), so both backends train the same model from the same distribution, and
the recipe's optimizer (:func:`cnnlab.nn.make_optimizer`).

One epoch: shuffle, cut mini-batches (the last one may be smaller), augment (uint8, when the recipe says
so), normalise, and per step set the learning rate from :func:`cnnlab.recipes.learning_rate`, run
forward, the label-smoothed softmax cross-entropy (against mixup's blended targets when the recipe has
``mixup``, :mod:`cnnlab.data.mixup`), backward and the optimizer step, then update the weight average
(``ema``, :mod:`cnnlab.engine.average`). Evaluation: the validation images in evaluation mode, no
augmentation, flip averaging when the recipe has ``tta_flip``, plain negative log-likelihood, of the
averaged weights when the recipe has ``ema`` (as the predictor will score it).

Determinism: every random draw of epoch ``e`` (shuffle order, augmentation, mixup, dropout masks) comes
from generators seeded with ``(recipe.seed, e)`` (:data:`RNG_SCHEME`), so the run is a function of the
seed and a resumed run continues exactly: there is no hidden generator state to restore. Threads:
``settings.threads`` sets the ops' worker threads (``CNNLAB_OPS_THREADS``, :mod:`cnnlab.ops._threads`);
results do not depend on it.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from cnnlab.engine.protocol import EpochStats, NonFiniteLoss, StepHook, TrainData
from cnnlab.engine.settings import TrainSettings
from cnnlab.errors import CnnlabError
from cnnlab.nn.checkpoint import load_checkpoint, save_checkpoint
from cnnlab.nn.ema import WeightAverage, averaged_or_raw_params, join_average, split_average
from cnnlab.nn.losses import smoothed_targets, soft_cross_entropy, softmax_cross_entropy
from cnnlab.nn.model import build_model
from cnnlab.nn.optim import make_optimizer
from cnnlab.nn.predictor import predict_logprobs
from cnnlab.nn.summary import summarize
from cnnlab.recipes import learning_rate

#: Weight initialisation of trained models: PyTorch's default, as the torch backend (cnnlab.nn.init).
INIT = "torch"
#: How the per-epoch generators are seeded (recorded in config.json's backend_info).
RNG_SCHEME = (
    "numpy.random.default_rng([seed, epoch]) for shuffle, augmentation and mixup, "
    "[seed, epoch, 1] for dropout"
)


def problems(settings: TrainSettings) -> list[str]:
    """Settings the NumPy backend cannot use: a GPU device, a dtype other than float32/float64."""
    out = []
    if settings.device not in ("auto", "cpu"):
        out.append(
            f"--device {settings.device} needs the torch backend (the numpy backend runs on the CPU); "
            "pass --backend torch or drop --device"
        )
    if settings.dtype not in ("float32", "float64"):
        out.append(f"dtype must be float32 or float64, not {settings.dtype!r}")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        out.append("the numpy backend trains in one process; under torchrun pass --backend torch")
    return out


class NumpyRuntime:
    """One process on the CPU; ``settings.threads`` sets the ops' worker threads for the run."""

    main = True

    def __init__(self, settings: TrainSettings):
        self._saved = os.environ.get("CNNLAB_OPS_THREADS")
        if settings.threads is not None:
            os.environ["CNNLAB_OPS_THREADS"] = str(settings.threads)

    def facts(self) -> dict[str, Any]:
        from cnnlab.ops._threads import num_threads

        return {
            "init": INIT,
            "rng": RNG_SCHEME,
            "device_used": "cpu",
            "threads": num_threads(),
            "processes": 1,
        }

    def agree(self, error: BaseException | None) -> BaseException | None:
        return error

    def build(self, settings: TrainSettings, data: TrainData) -> NumpyEngine:
        return NumpyEngine(settings, data)

    def close(self) -> None:
        if self._saved is None:
            os.environ.pop("CNNLAB_OPS_THREADS", None)
        else:
            os.environ["CNNLAB_OPS_THREADS"] = self._saved


def start(settings: TrainSettings) -> NumpyRuntime:
    return NumpyRuntime(settings)


class NumpyEngine:
    """A :class:`cnnlab.nn.Sequential`, its optimizer and weight average (see the module docstring)."""

    def __init__(self, settings: TrainSettings, data: TrainData):
        from cnnlab.data import normalize

        r = self.recipe = settings.recipe
        self.data = data
        self.dtype = np.dtype(settings.dtype)
        self.model = build_model(
            settings.model,
            data.image_size,
            data.num_classes,
            r.dropout,
            self.dtype,
            seed=r.seed,
            init=INIT,
            in_channels=data.channels,
        )
        self.opt = make_optimizer(r.optimizer, self.model.parameters(), r.lr, r.weight_decay, r.momentum)
        self.average = WeightAverage(self.model.parameters(), r.ema) if r.ema > 0 else None
        self.x_val = normalize(data.val_images).astype(self.dtype, copy=False)
        self.steps_per_epoch = math.ceil(data.train_labels.size / r.batch_size)

    def summary(self) -> str:
        return str(summarize(self.model)) + "\n"

    def train_epoch(self, epoch: int, first_step: int, total_steps: int, on_step: StepHook) -> EpochStats:
        """One pass over the shuffled training images (mixup and the weight average per the recipe)."""
        from cnnlab.data import Augmenter, normalize
        from cnnlab.data.mixup import MixUp, mix

        r, data, model, opt = self.recipe, self.data, self.model, self.opt
        rng = np.random.default_rng([r.seed, epoch])
        order = rng.permutation(data.train_labels.size)
        augment = None
        if r.augment:
            augment = Augmenter(
                seed=int(rng.integers(2**63)), pad=r.augment_pad, scale=(r.augment_scale, 1.0)
            )
        mixer = MixUp(r.mixup, seed=int(rng.integers(2**63))) if r.mixup > 0 else None
        model.set_rng(np.random.default_rng([r.seed, epoch, 1]))
        model.train()
        start = time.perf_counter()
        loss_sum, correct, b, lr = 0.0, 0, r.batch_size, opt.lr
        for s in range(self.steps_per_epoch):
            idx = order[s * b : (s + 1) * b]
            images = data.train_images[idx]
            if augment is not None:
                images = augment(images)
            x = normalize(images).astype(self.dtype, copy=False)
            y = y_counted = data.train_labels[idx]
            lr = opt.lr = learning_rate(r, first_step + s, total_steps)
            with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is reported just below
                if mixer is None:
                    logits = model.forward(x)
                    loss, dlogits = softmax_cross_entropy(logits, y, r.label_smoothing)
                else:
                    m = mixer.sample(y.size)
                    logits = model.forward(mix(x, m).astype(self.dtype, copy=False))
                    k, eps = data.num_classes, r.label_smoothing
                    target = m.lam * smoothed_targets(y, k, eps, self.dtype) + (
                        1.0 - m.lam
                    ) * smoothed_targets(y[m.perm], k, eps, self.dtype)
                    loss, dlogits = soft_cross_entropy(logits, target)
                    y_counted = y if m.dominant else y[m.perm]
            if not math.isfinite(loss):
                model.clear()
                raise NonFiniteLoss(loss, s + 1)
            model.backward(dlogits, input_grad=False)
            opt.step(model.gradients())
            if self.average is not None:
                self.average.update(model.parameters())
            hits = int(np.sum(logits.argmax(axis=1) == y_counted))
            loss_sum += loss * y.size
            correct += hits
            on_step(s + 1, loss, hits / y.size, int(y.size))
        n = int(data.train_labels.size)
        return EpochStats(loss_sum / n, correct / n, lr, n, time.perf_counter() - start)

    def evaluate(self) -> tuple[float | None, float | None]:
        y = self.data.val_labels
        if y.size == 0:
            return None, None
        params = self.model.state_dict()
        if self.average is not None:  # evaluate the average in the model's layers, then put the weights back
            self.model.load_state_dict(self.average.shadow)
        try:
            logp = predict_logprobs(self.model, self.x_val, self.recipe.tta_flip)
        finally:
            if self.average is not None:
                self.model.load_state_dict(params)
        loss = float(-np.mean(logp[np.arange(y.size), y], dtype=np.float64))
        return loss, float(np.mean(logp.argmax(axis=1) == y))

    def snapshot(self) -> dict[str, Any]:
        optimizer = self.opt.state_dict()
        if self.average is not None:
            optimizer = join_average(optimizer, self.average.state_dict())
        return {"params": self.model.state_dict(), "optimizer": optimizer}

    def best_weights(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        return {"params": averaged_or_raw_params(snapshot["params"], snapshot["optimizer"]), "optimizer": {}}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.model.load_state_dict(snapshot["params"])
        if self.average is not None:
            self.average.load_state_dict(averaged_or_raw_params(snapshot["params"], snapshot["optimizer"]))
        self.opt.load_state_dict(split_average(snapshot["optimizer"])[0])

    def save(self, path: os.PathLike, state: dict[str, Any], meta: dict[str, Any]) -> None:
        save_checkpoint(path, state["params"], meta, state["optimizer"] or None)

    def load(self, path: os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
        params, optimizer, meta = load_checkpoint(path)
        if not optimizer:
            raise CnnlabError(f"{path} holds no optimizer state; it is not a 'last' checkpoint")
        return {"params": params, "optimizer": optimizer}, meta
