"""The torch backend's engine for the fit loop (:mod:`cnnlab.training.loop`), on one device or under DDP.

Runtime (:class:`TorchRuntime`): picks the device (``settings.device``: ``"auto"`` = CUDA, then Apple
MPS, then CPU, :mod:`cnnlab.torch_backend.device`), sets the intra-op threads (``settings.threads``, else
:func:`cnnlab.torch_backend.device.default_torch_threads` per process) and, under ``torchrun``
(``WORLD_SIZE > 1``), joins the process group (gloo on CPU, NCCL on CUDA;
:mod:`cnnlab.torch_backend.distributed`).

Engine (:class:`TorchEngine`):

- Seeds everything from ``recipe.seed``: ``torch.manual_seed`` (weights, dropout), the shuffle generator
  ``numpy.random.default_rng((seed, 1))``, ``Augmenter(seed, pad=recipe.augment_pad, scale=(
  recipe.augment_scale, 1))`` and ``MixUp(recipe.mixup, seed=(seed, 2))``; on CUDA cuDNN runs
  deterministic kernels. The decoded images stay in memory: without augmentation the normalised training
  set is one ``(N, C, H, W)`` float32 tensor on the device; with augmentation each global batch is
  augmented as uint8 NHWC on the host (:class:`cnnlab.data.Augmenter`) and moved over. Tensors use the
  channels-last layout on CPU and CUDA; CUDA runs the forward pass under bf16 autocast.
- Each step minimises cross-entropy with ``recipe.label_smoothing`` (blended with a permutation of the
  batch when ``recipe.mixup``: ``lam * CE(y) + (1 - lam) * CE(y[perm])``), Adam, AdamW or SGD with the
  learning rate of :func:`cnnlab.recipes.learning_rate`; with ``recipe.ema = d`` the weight average of
  :mod:`cnnlab.engine.average` follows every step (``w_ema.lerp_(w, 1 - d)``).
- Under DDP every rank draws the same permutation, augmentation and mixup for each *global* batch and
  keeps its interleaved share (:func:`cnnlab.torch_backend.distributed.shard`); each rank's loss is
  ``sum of its losses * N_ranks / global batch``, so the averaged gradient is the single-process one.
- The snapshot holds the weights, the optimizer, the average and every RNG state: a resumed run gives the
  same numbers as an uninterrupted one.
"""

from __future__ import annotations

import copy
import math
import os
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.engine.average import EMA_KEY, WeightAverage, averaged_or_raw
from cnnlab.engine.protocol import EpochStats, NonFiniteLoss, StepHook, TrainData
from cnnlab.engine.settings import TrainSettings
from cnnlab.errors import CnnlabError, RunDirError
from cnnlab.recipes import Recipe, learning_rate
from cnnlab.torch_backend.checkpoint import load_checkpoint, save_checkpoint
from cnnlab.torch_backend.device import default_torch_threads, memory_format, select_device, to_input
from cnnlab.torch_backend.distributed import Dist, dist_from_env, shard
from cnnlab.torch_backend.models import build_model
from cnnlab.torch_backend.predictor import evaluate


def _lerp(avg: torch.Tensor, w: torch.Tensor, rate: float) -> None:
    avg.lerp_(w, rate)


def problems(settings: TrainSettings) -> list[str]:
    """Settings the torch backend cannot use: a dtype other than float32; a batch smaller than the ranks."""
    out = []
    if settings.dtype != "float32":
        out.append(
            f"--dtype {settings.dtype} is for the numpy backend (torch trains in float32); "
            "drop --dtype or pass --backend numpy"
        )
    world = dist_from_env().world
    if settings.recipe.batch_size < world:
        out.append(f"batch size {settings.recipe.batch_size} is smaller than the {world} processes")
    return out


class TorchRuntime:
    """Device, threads and (under ``torchrun``) the process group of one training process."""

    def __init__(self, settings: TrainSettings):
        self.dist = dist_from_env()
        self.device = select_device(settings.device)
        self._threads_before = torch.get_num_threads()
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", self.dist.world))
        self.threads = settings.threads or default_torch_threads(local_world)
        if self.device.type == "cpu" or settings.threads is not None:
            torch.set_num_threads(self.threads)
        self._pg_started = False
        if self.dist.world > 1:
            import torch.distributed as tdist

            if self.device.type == "cuda":
                self.device = torch.device("cuda", self.dist.local_rank)
                torch.cuda.set_device(self.device)
            if not tdist.is_initialized():
                tdist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
                self._pg_started = True

    @property
    def main(self) -> bool:
        return self.dist.main

    def facts(self) -> dict[str, Any]:
        return {
            "device_used": str(self.device),
            "threads": int(torch.get_num_threads()),
            "processes": self.dist.world,
            "torch": torch.__version__,
        }

    def agree(self, error: BaseException | None) -> BaseException | None:
        if self.dist.world <= 1:
            return error
        import torch.distributed as tdist

        flags = [str(error) if error is not None else None]
        tdist.broadcast_object_list(flags, src=0)
        if error is None and flags[0] is not None:
            return RunDirError(flags[0])
        return error

    def build(self, settings: TrainSettings, data: TrainData) -> TorchEngine:
        return TorchEngine(settings, data, self.device, self.dist)

    def close(self) -> None:
        if self._pg_started:
            import torch.distributed as tdist

            tdist.destroy_process_group()
            self._pg_started = False
        torch.set_num_threads(self._threads_before)


def start(settings: TrainSettings) -> TorchRuntime:
    return TorchRuntime(settings)


def _make_optimizer(model: nn.Module, recipe: Recipe, device: torch.device) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (momentum) per ``recipe``; the fused kernels on CPU and CUDA (~10% of a step)."""
    params = model.parameters()
    fused = True if device.type in ("cpu", "cuda") else None
    wd = recipe.weight_decay
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=wd, fused=fused)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=wd, fused=fused)
    return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=wd, fused=fused)


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class TorchEngine:
    """A ``torch.nn.Sequential`` (wrapped in DDP when there are several processes) and its streams."""

    def __init__(self, settings: TrainSettings, data: TrainData, device: torch.device, dist: Dist):
        from cnnlab.data import Augmenter
        from cnnlab.data.mixup import MixUp

        if data.channels != 3:
            raise CnnlabError(
                f"the {settings.model!r} model expects RGB images, got {data.channels} channel(s)"
            )
        r = self.recipe = settings.recipe
        self.settings, self.data, self.device, self.dist = settings, data, device, dist
        if device.type == "cuda":
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        self.fmt = memory_format(device)
        from cnnlab.torch_backend.summary import summary_text

        # torchinfo's forward pass draws random numbers (dropout): make the table before seeding.
        self._summary = summary_text(settings.model, data.image_size, data.num_classes, r.dropout)
        torch.manual_seed(r.seed)
        model = build_model(settings.model, data.image_size, data.num_classes, r.dropout)
        self.model = model.to(device=device, memory_format=self.fmt)
        self.optimizer = _make_optimizer(self.model, r, device)
        self.shuffle = np.random.default_rng((r.seed, 1))
        self.augmenter = (
            Augmenter(r.seed, pad=r.augment_pad, scale=(r.augment_scale, 1.0)) if r.augment else None
        )
        self.mixer = MixUp(r.mixup, seed=(r.seed, 2)) if r.mixup > 0 else None
        self.averaged: nn.Module | None = None  # the weight average's model: what is validated and saved
        self.average: WeightAverage[torch.Tensor] | None = None
        if r.ema > 0:
            self.averaged = copy.deepcopy(self.model).requires_grad_(False)
            self.average = WeightAverage(dict(self.averaged.named_parameters()), r.ema, _lerp)
            self._params = dict(self.model.named_parameters())
        self.train_u8 = np.ascontiguousarray(data.train_images)
        self.y_train = torch.from_numpy(data.train_labels).to(device)
        self.x_train = None if r.augment else to_input(self.train_u8, device)
        has_val = data.val_labels.size > 0
        self.x_val = to_input(data.val_images, device) if has_val else None
        self.y_val = torch.from_numpy(data.val_labels).to(device) if has_val else None
        self.steps_per_epoch = math.ceil(data.train_labels.size / r.batch_size)
        self.ddp_model: nn.Module = self.model
        if dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            self.ddp_model = DistributedDataParallel(self.model, device_ids=ids)

    def summary(self) -> str:
        return self._summary

    def _batch(self, batch: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, Any]:
        """This rank's share of one global batch: inputs, labels, mixup's partner labels, mixup's draw."""
        dist, device, fmt = self.dist, self.device, self.fmt
        mixp = self.mixer.sample(batch.size) if self.mixer is not None else None
        if mixp is not None:  # blend the whole global batch on every rank, then take a share
            from cnnlab.data.mixup import mix

            whole = torch.from_numpy(batch).to(device)
            if self.augmenter is not None:
                x_whole = to_input(self.augmenter(self.train_u8[batch]), device)
            else:
                x_whole = self.x_train.index_select(0, whole)
            rows = torch.from_numpy(shard(np.arange(batch.size), dist.rank, dist.world)).to(device)
            xb = mix(x_whole, mixp).index_select(0, rows).contiguous(memory_format=fmt)
            y_whole = self.y_train[whole]
            return xb, y_whole[rows], y_whole[torch.from_numpy(mixp.perm).to(device)][rows], mixp
        if self.augmenter is not None:  # augment the whole global batch on every rank: same draws
            xb_u8 = self.augmenter(self.train_u8[batch])
            mine = shard(np.arange(batch.size), dist.rank, dist.world)
            yb = self.y_train[torch.from_numpy(shard(batch, dist.rank, dist.world)).to(device)]
            return to_input(xb_u8[mine], device), yb, None, None
        idx = torch.from_numpy(shard(batch, dist.rank, dist.world)).to(device)
        return self.x_train.index_select(0, idx).contiguous(memory_format=fmt), self.y_train[idx], None, None

    def train_epoch(self, epoch: int, first_step: int, total_steps: int, on_step: StepHook) -> EpochStats:
        r, device, dist = self.recipe, self.device, self.dist
        t0 = time.perf_counter()
        self.model.train()
        n, bs = self.data.train_labels.size, r.batch_size
        perm = self.shuffle.permutation(n)
        sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, count
        autocast = device.type == "cuda"
        lr = r.lr
        for s in range(self.steps_per_epoch):
            batch = perm[s * bs : (s + 1) * bs]
            xb, yb, yb_mix, mixp = self._batch(batch)
            lr = learning_rate(r, first_step + s, total_steps)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                logits = self.ddp_model(xb)
            losses = F.cross_entropy(logits.float(), yb, label_smoothing=r.label_smoothing, reduction="none")
            y_counted = yb
            if mixp is not None:
                losses = mixp.lam * losses + (1.0 - mixp.lam) * F.cross_entropy(
                    logits.float(), yb_mix, label_smoothing=r.label_smoothing, reduction="none"
                )
                y_counted = yb if mixp.dominant else yb_mix
            loss_sum = losses.sum()
            # DDP averages gradients over ranks: scale so that the average is the global-batch mean.
            loss = loss_sum * (dist.world / batch.size)
            stats = torch.stack(
                [
                    loss_sum.detach().double(),
                    (logits.argmax(1) == y_counted).sum().double(),
                    torch.tensor(float(yb.numel()), dtype=torch.float64, device=device),
                ]
            )
            if dist.world > 1:
                import torch.distributed as tdist

                tdist.all_reduce(stats)
            step_loss = stats[0].item() / stats[2].item()
            if not math.isfinite(step_loss):
                raise NonFiniteLoss(step_loss, s + 1)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if self.average is not None:
                with torch.no_grad():
                    self.average.update(self._params)
            sums += stats
            on_step(s + 1, step_loss, stats[1].item() / stats[2].item(), int(stats[2].item()))
        total = sums.tolist()
        return EpochStats(
            total[0] / total[2], total[1] / total[2], lr, int(total[2]), time.perf_counter() - t0
        )

    def evaluate(self) -> tuple[float | None, float | None]:
        if self.x_val is None:
            return None, None
        model = self.averaged if self.averaged is not None else self.model
        val_loss, val_acc = evaluate(model, self.x_val, self.y_val, self.recipe.tta_flip)
        self.model.train()
        return val_loss, val_acc

    # -- state ----------------------------------------------------------------------------------
    def _rng_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "shuffle": self.shuffle.bit_generator.state,
            "augment": self.augmenter.rng.bit_generator.state if self.augmenter is not None else None,
            "mixup": self.mixer.rng.bit_generator.state if self.mixer is not None else None,
        }
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def snapshot(self) -> dict[str, Any]:
        state = {
            "model": _weights(self.model),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "rng": self._rng_state(),
        }
        if self.average is not None:
            state[EMA_KEY] = _weights(self.averaged)
        return state

    def best_weights(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        return {"model": averaged_or_raw(snapshot, "model")}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.model.load_state_dict(snapshot["model"])
        self.optimizer.load_state_dict(snapshot["optimizer"])
        if self.average is not None:
            self.averaged.load_state_dict(averaged_or_raw(snapshot, "model"))
        rng = snapshot["rng"]
        torch.set_rng_state(rng["torch"])
        self.shuffle.bit_generator.state = rng["shuffle"]
        if self.augmenter is not None and rng.get("augment") is not None:
            self.augmenter.rng.bit_generator.state = rng["augment"]
        if self.mixer is not None and rng.get("mixup") is not None:
            self.mixer.rng.bit_generator.state = rng["mixup"]
        if self.device.type == "cuda" and rng.get("cuda") is not None:
            torch.cuda.set_rng_state(rng["cuda"], self.device)

    def save(self, path: os.PathLike, state: dict[str, Any], meta: dict[str, Any]) -> None:
        save_checkpoint(path, state, meta)

    def load(self, path: os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
        state, meta = load_checkpoint(path)
        if "optimizer" not in state:
            raise RunDirError(f"{path} holds no optimizer state; it is not a 'last' checkpoint")
        return state, meta
