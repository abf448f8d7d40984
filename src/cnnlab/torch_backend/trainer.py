"""The PyTorch trainer: ``train(settings, callbacks) -> RunDir``, on one device or under ``torchrun``.

What one run does (the same run directory as the NumPy trainer, :mod:`cnnlab.runs`):

1. Picks the device (``settings.device``: ``"auto"`` = CUDA, then Apple MPS, then CPU), loads the
   dataset once (:func:`cnnlab.data.load_dataset`) and carves a stratified validation split from train
   (``recipe.val_fraction``, seeded, or a cross-validation fold: :meth:`TrainSettings.split`). The
   decoded images stay in memory as one array: without augmentation the normalised training set is
   one ``(N, C, H, W)`` float32 tensor on the device, so a step is one index; with augmentation each
   mini-batch is augmented as uint8 NHWC on the host (:class:`cnnlab.data.Augmenter`, the one
   implementation both backends use) and then moved over.
   Normalisation is ``(x / 255 - 0.5) / 0.5`` (:func:`cnnlab.data.normalize`).
2. Seeds everything from ``recipe.seed``: ``torch.manual_seed`` (weights, dropout), the shuffle
   generator ``numpy.random.default_rng((seed, 1))`` and ``Augmenter(seed, pad=recipe.augment_pad,
   scale=(recipe.augment_scale, 1))``; on CUDA cuDNN runs deterministic kernels. Tensors use the
   channels-last layout on CPU and CUDA (a step is ~1.6x faster on CPU); CUDA runs the forward pass
   under bf16 autocast.
3. Each step sets the learning rate from :func:`cnnlab.recipes.learning_rate` (the one schedule of both
   backends) and minimises cross-entropy with ``recipe.label_smoothing``; the optimizer is Adam, AdamW
   or SGD (momentum) with ``recipe.weight_decay``. With ``recipe.mixup`` each global batch is blended
   with a permutation of itself and the loss is ``lam * CE(y) + (1 - lam) * CE(y[perm])``
   (:mod:`cnnlab.data.mixup`, as in the NumPy trainer); with ``recipe.ema = d`` an
   average ``w_ema.lerp_(w, 1 - d)`` of the weights follows every step, as :mod:`cnnlab.nn.ema`.
4. After each epoch: validation loss and accuracy (with flip averaging when ``recipe.tta_flip``, as the
   predictor does; of the averaged weights when ``recipe.ema``), one ``metrics.csv`` row, ``best.pt``
   (the averaged weights when ``recipe.ema``) when validation accuracy improved (ties broken
   by lower validation loss; every epoch when there is no validation split), and ``last.pt`` with the
   optimizer, the epoch and every RNG state, which is what ``settings.resume`` continues from — a
   resumed run gives the same numbers as an uninterrupted one. (Checkpoints are snapshotted in memory
   each epoch and written at most every :data:`SAVE_EVERY_S` seconds, and always on the final epoch
   and on a stop; see :class:`_Checkpoints`.)
5. A non-finite loss or Ctrl-C raises :class:`cnnlab.errors.TrainingStopped`; the checkpoints of the
   last finished epoch stay as they were (every write is atomic).

Several processes: under ``torchrun --nproc_per_node=N`` (``WORLD_SIZE > 1`` in the environment, see
:mod:`cnnlab.torch_backend.ddp`) the model is wrapped in ``DistributedDataParallel`` (gloo on CPU, NCCL
on CUDA). Every rank draws the same permutation and the same augmentation for each *global* batch of
``recipe.batch_size`` images and keeps its own interleaved share of it (the distributed sampler,
:func:`shard`); each rank's loss is ``sum of its losses * N_ranks / global batch``, so the averaged
gradient is exactly the single-process gradient of the global batch, last partial batch included. Only
rank 0 writes files and calls the callbacks. (Dropout masks are drawn per rank, so runs with dropout
match a single process in distribution only.)
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.architectures import DEFAULT_IMAGE_SIZE
from cnnlab.errors import CnnlabError, RunDirError, TrainingStopped
from cnnlab.recipes import Recipe, learning_rate
from cnnlab.runs import RunDir, atomic_save, atomic_write_text
from cnnlab.torch_backend.models import build_model
from cnnlab.training import Callbacks, TrainSettings, skipped_files_note

#: Images per forward pass when evaluating.
EVAL_BATCH = 256
#: Write checkpoints at most this often (seconds), besides the first and final epoch and a stop.
SAVE_EVERY_S = 10.0


# -- devices ------------------------------------------------------------------------------------------
def select_device(name: str = "auto") -> torch.device:
    """The torch device for ``name``: ``"cpu"``, ``"cuda[:k]"``, ``"mps"``, or ``"auto"`` = CUDA if
    available, else Apple MPS, else CPU.

    Raises :class:`CnnlabError` when the requested device is not available here.
    """
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise CnnlabError(f"unknown device {name!r}; choose auto, cpu, cuda or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CnnlabError("device 'cuda' requested but this PyTorch has no usable CUDA GPU; use --device cpu")
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise CnnlabError("device 'mps' requested but Apple MPS is not available here; use --device cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise CnnlabError(f"unsupported device {name!r}; choose auto, cpu, cuda or mps")
    return device


def memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last on CPU and CUDA (faster convolutions), the default layout elsewhere."""
    return torch.channels_last if device.type in ("cpu", "cuda") else torch.contiguous_format


def to_input(images: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 ``(N, H, W, C)`` -> normalised float32 ``(N, C, H, W)`` on ``device``.

    ``x -> (x / 255 - 0.5) / 0.5`` in float32, the same operations as :func:`cnnlab.data.normalize`
    (so the values are bit for bit those of the NumPy backend). NHWC memory viewed as NCHW *is*
    channels-last, so on CPU and CUDA no copy is made beyond the conversion to float.
    """
    x = torch.as_tensor(images).to(device, non_blocking=True)
    x = x.permute(0, 3, 1, 2).float().div_(255.0).sub_(0.5).div_(0.5)
    return x.contiguous(memory_format=memory_format(device))


# -- several processes --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dist:
    """This process's place among ``world`` training processes (``world == 1``: no DDP)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def dist_from_env() -> Dist:
    """Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` as set by ``torchrun``; absent -> one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    return Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))


def shard(batch: np.ndarray, rank: int, world: int) -> np.ndarray:
    """The distributed sampler's share of one global batch: every ``world``-th item from ``rank``.

    Over all ranks the shares partition ``batch``; sizes differ by at most one (the last batch of an
    epoch need not divide evenly). ``shard(b, 0, 1)`` is ``b``.
    """
    return batch[rank::world]


# -- evaluation ---------------------------------------------------------------------------------------
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


# -- the run ------------------------------------------------------------------------------------------
def _make_optimizer(model: nn.Module, recipe: Recipe, device: torch.device) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (momentum) per ``recipe``; the fused kernels on CPU and CUDA (~10% of a step)."""
    params = model.parameters()
    fused = True if device.type in ("cpu", "cuda") else None
    name = recipe.optimizer.lower()
    wd = recipe.weight_decay
    if name == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=wd, fused=fused)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=wd, fused=fused)
    if name == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=wd, fused=fused)
    raise CnnlabError(
        f"unknown optimizer {recipe.optimizer!r} in recipe {recipe.name!r}; choose adam, adamw or sgd"
    )


def _check_recipe(recipe: Recipe, world: int) -> None:
    if recipe.epochs < 1:
        raise CnnlabError(f"epochs must be at least 1, got {recipe.epochs}")
    if recipe.batch_size < 1:
        raise CnnlabError(f"batch size must be at least 1, got {recipe.batch_size}")
    if recipe.lr <= 0 or not math.isfinite(recipe.lr):
        raise CnnlabError(f"learning rate must be a positive number, got {recipe.lr}")
    if not 0.0 <= recipe.val_fraction < 1.0:
        raise CnnlabError(f"val_fraction must be in [0, 1), got {recipe.val_fraction}")
    if not 0.0 <= recipe.label_smoothing < 1.0:
        raise CnnlabError(f"label_smoothing must be in [0, 1), got {recipe.label_smoothing}")
    if not 0.0 <= recipe.dropout < 1.0:
        raise CnnlabError(f"dropout must be in [0, 1), got {recipe.dropout}")
    if not (recipe.mixup >= 0 and math.isfinite(recipe.mixup)):
        raise CnnlabError(f"mixup must be a number >= 0 (0: off), got {recipe.mixup}")
    if not 0.0 <= recipe.ema < 1.0:
        raise CnnlabError(f"ema must be in [0, 1) (0: off), got {recipe.ema}")
    if recipe.batch_size < world:
        raise CnnlabError(f"batch size {recipe.batch_size} is smaller than the {world} processes")


def _rng_state(
    shuffle: np.random.Generator, augmenter: Any, mixer: Any, device: torch.device
) -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "shuffle": shuffle.bit_generator.state,
        "augment": augmenter.rng.bit_generator.state if augmenter is not None else None,
        "mixup": mixer.rng.bit_generator.state if mixer is not None else None,
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(
    state: dict[str, Any], shuffle: np.random.Generator, augmenter: Any, mixer: Any, device: torch.device
) -> None:
    torch.set_rng_state(state["torch"])
    shuffle.bit_generator.state = state["shuffle"]
    if augmenter is not None and state.get("augment") is not None:
        augmenter.rng.bit_generator.state = state["augment"]
    if mixer is not None and state.get("mixup") is not None:
        mixer.rng.bit_generator.state = state["mixup"]
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


class _Checkpoints:
    """In-memory snapshots of the last finished epoch, written to ``best.pt`` / ``last.pt`` atomically.

    Writing both files costs ~45 ms on this machine (``last.pt`` holds the weights, Adam's two moments
    and the RNG states: ~9 MB, fsynced), which would be ~15% of a CPU epoch of the lab's model. So
    every epoch is snapshotted in memory (a copy: a few ms) and written on the first and the final
    epoch, whenever :data:`SAVE_EVERY_S` seconds have passed since the last write, and when training
    stops (Ctrl-C, non-finite loss). A hard kill loses at most that many seconds of training.
    """

    def __init__(self, run: RunDir):
        self.run = run
        self.best: dict | None = None
        self.last: dict | None = None
        self.written_at = -math.inf

    def snapshot(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        meta: dict,
        improved: bool,
        averaged: nn.Module | None = None,
    ) -> None:
        """Copy the epoch's state; ``best`` gets the averaged weights when there is an average."""
        weights = _weights(model)
        extra = {}
        if averaged is not None:
            extra["ema"] = _weights(averaged)
        if improved:
            self.best = extra.get("ema", weights)
        self.last = {"model": weights, "optimizer": copy.deepcopy(optimizer.state_dict()), **extra, **meta}

    def maybe_write(self, force: bool = False) -> None:
        if force or time.perf_counter() - self.written_at >= SAVE_EVERY_S:
            self.write()

    def write(self) -> None:
        if self.best is not None:
            atomic_save(self.run.checkpoint("best"), lambda fh, st=self.best: torch.save(st, fh))
            self.best = None
        if self.last is not None:
            atomic_save(self.run.checkpoint("last"), lambda fh, st=self.last: torch.save(st, fh))
            self.last = None
        self.written_at = time.perf_counter()


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _config(settings: TrainSettings, dataset: Any, image_size: int, device: torch.device, dist: Dist) -> dict:
    cfg = settings.to_config()
    cfg["backend"] = "torch"
    cfg["image_size"] = image_size
    cfg["classes"] = list(dataset.classes)
    cfg["num_classes"] = len(dataset.classes)
    cfg["channels"] = int(dataset.train.images.shape[-1])
    cfg["device_used"] = str(device)
    cfg["world_size"] = dist.world
    cfg["versions"]["torch"] = torch.__version__
    cfg["skipped_files"] = [(str(p), str(r)) for p, r in dataset.skipped]
    return cfg


def _open_or_create(settings: TrainSettings, config: dict, dist: Dist) -> tuple[RunDir, dict | None]:
    """Rank 0 creates (or, on resume, opens) the run directory; returns it and the ``last.pt`` state."""
    last = None
    error = None
    run = RunDir(settings.out)
    if settings.resume:
        try:
            run = RunDir.open(settings.out)
            if run.config.get("backend") != "torch":
                raise RunDirError(
                    f"{run.path} was trained by the {run.config.get('backend')!r} backend, not torch"
                )
            path = run.checkpoint("last")
            if not path.is_file():
                raise RunDirError(f"{path} is missing; nothing to resume (train without --resume)")
            last = torch.load(path, map_location="cpu", weights_only=True)
        except CnnlabError as exc:
            error = exc
    elif dist.main:
        try:
            run = RunDir.create(settings.out, config, overwrite=settings.overwrite)
        except CnnlabError as exc:
            error = exc
    if dist.world > 1:  # every rank fails together, or none does
        import torch.distributed as tdist

        flags = [str(error) if error is not None else None]
        tdist.broadcast_object_list(flags, src=0)
        if error is None and flags[0] is not None:
            error = RunDirError(flags[0])
    if error is not None:
        raise error
    return run, last


def train(settings: TrainSettings, callbacks: Callbacks | None = None) -> RunDir:
    """Train ``settings.model`` with ``settings.recipe``; write and return the run directory.

    Raises :class:`CnnlabError` for bad settings or data, :class:`RunDirError` for an output directory
    that would be overwritten (or, with ``resume``, one that cannot be resumed), and
    :class:`TrainingStopped` on Ctrl-C or a non-finite loss (the last epoch's checkpoints are kept).
    The test split is never touched (``cnnlab.runs.finish_run`` evaluates it).
    """
    cb = callbacks or Callbacks()
    dist = dist_from_env()
    recipe = settings.recipe
    if settings.resume and (RunDir(settings.out).path / "config.json").is_file():
        # A resumed run continues with its own settings (recipe, model, data), whatever was passed.
        stored = TrainSettings.from_config(RunDir.open(settings.out).config)
        stored.resume, stored.device, stored.out = True, settings.device, settings.out
        if stored.recipe != recipe and dist.main:
            cb.on_message("resuming with the run's own recipe from config.json")
        settings, recipe = stored, stored.recipe
    _check_recipe(recipe, dist.world)
    if settings.model not in DEFAULT_IMAGE_SIZE:
        raise CnnlabError(f"unknown model {settings.model!r}; choose one of {sorted(DEFAULT_IMAGE_SIZE)}")
    image_size = settings.image_size or DEFAULT_IMAGE_SIZE[settings.model]

    device = select_device(settings.device)
    pg_started = False
    if dist.world > 1:
        import torch.distributed as tdist

        if device.type == "cuda":
            device = torch.device("cuda", dist.local_rank)
            torch.cuda.set_device(device)
        if not tdist.is_initialized():
            tdist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            pg_started = True
    try:
        return _train(settings, recipe, image_size, device, dist, cb)
    finally:
        if pg_started:
            import torch.distributed as tdist

            tdist.destroy_process_group()


def _train(
    settings: TrainSettings, recipe: Recipe, image_size: int, device: torch.device, dist: Dist, cb: Callbacks
) -> RunDir:
    from cnnlab.data import Augmenter, load_dataset
    from cnnlab.data.mixup import MixUp, mix

    if device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    dataset = load_dataset(settings.data, image_size=image_size)  # its own split seed: the test set is fixed
    if len(dataset.train) == 0:
        raise CnnlabError(f"{dataset.root}: the training split holds no images")
    if dataset.channels != 3:
        raise CnnlabError(
            f"the {settings.model!r} model expects RGB images, got {dataset.channels} channel(s)"
        )
    num_classes = len(dataset.classes)
    if num_classes < 2:
        raise CnnlabError(f"{dataset.root}: need at least 2 classes, found {num_classes}")
    labels_all = np.asarray(dataset.train.labels, dtype=np.int64)
    train_idx, val_idx = settings.split(labels_all)
    if train_idx.size == 0:
        raise CnnlabError(
            f"no training images left after carving a {recipe.val_fraction:.0%} validation split"
        )

    config = _config(settings, dataset, image_size, device, dist)
    config.update(num_train=int(train_idx.size), num_val=int(val_idx.size))
    run, last = _open_or_create(settings, config, dist)

    # The summary's forward pass draws no random numbers but builds a model: do it before seeding.
    if dist.main and not settings.resume:
        from cnnlab.torch_backend.summary import summary_text

        atomic_write_text(
            run / "summary.txt", summary_text(settings.model, image_size, num_classes, recipe.dropout)
        )

    torch.manual_seed(recipe.seed)
    model = build_model(settings.model, image_size, num_classes, recipe.dropout)
    fmt = memory_format(device)
    model = model.to(device=device, memory_format=fmt)
    optimizer = _make_optimizer(model, recipe, device)
    shuffle = np.random.default_rng((recipe.seed, 1))
    augmenter = None
    if recipe.augment:
        augmenter = Augmenter(recipe.seed, pad=recipe.augment_pad, scale=(recipe.augment_scale, 1.0))
    mixer = MixUp(recipe.mixup, seed=(recipe.seed, 2)) if recipe.mixup > 0 else None
    averaged: nn.Module | None = None  # the weight average (recipe.ema): what is validated and saved
    if recipe.ema > 0:
        averaged = copy.deepcopy(model).requires_grad_(False)

    # The data, decoded once and kept in memory.
    train_u8 = np.ascontiguousarray(dataset.train.images[train_idx])
    y_train_np = labels_all[train_idx]
    y_train = torch.from_numpy(y_train_np).to(device)
    x_train = None if recipe.augment else to_input(train_u8, device)  # one tensor on the device
    x_val = to_input(dataset.train.images[val_idx], device) if val_idx.size else None
    y_val = torch.from_numpy(labels_all[val_idx]).to(device) if val_idx.size else None

    n, bs = train_idx.size, recipe.batch_size
    steps_per_epoch = math.ceil(n / bs)
    total_steps = recipe.epochs * steps_per_epoch
    start_epoch, best_acc, best_loss, best_epoch = 1, -math.inf, math.inf, 0
    if last is not None:
        try:
            model.load_state_dict(last["model"])
            optimizer.load_state_dict(last["optimizer"])
            if averaged is not None:
                averaged.load_state_dict(last.get("ema", last["model"]))
            _set_rng_state(last["rng"], shuffle, augmenter, mixer, device)
        except (KeyError, RuntimeError, ValueError) as exc:
            raise RunDirError(f"{run.checkpoint('last')} does not fit this model and recipe: {exc}") from None
        start_epoch = int(last["epoch"]) + 1
        best_acc, best_loss, best_epoch = last["best_val_acc"], last["best_val_loss"], int(last["best_epoch"])

    ddp_model: nn.Module = model
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
        if device.type == "cpu":
            torch.set_num_threads(
                max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", dist.world)))
            )

    if dist.main:
        cb.on_train_start(settings, int(n), int(val_idx.size), start_epoch)
        if note := skipped_files_note([(str(p), str(r)) for p, r in dataset.skipped]):
            cb.on_message(note)
        if start_epoch > 1:
            cb.on_message(f"resumed after epoch {start_epoch - 1}")
    autocast = device.type == "cuda"
    ckpt = _Checkpoints(run)
    model.train()
    try:
        for epoch in range(start_epoch, recipe.epochs + 1):
            t0 = time.perf_counter()
            if dist.main:
                cb.on_epoch_start(epoch, recipe.epochs, steps_per_epoch)
            perm = shuffle.permutation(n)
            sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, count
            lr = recipe.lr
            for s in range(steps_per_epoch):
                step = (epoch - 1) * steps_per_epoch + s
                batch = perm[s * bs : (s + 1) * bs]
                mixp = mixer.sample(batch.size) if mixer is not None else None
                yb_mix = None
                if mixp is not None:  # blend the whole global batch on every rank, then take a share
                    whole = torch.from_numpy(batch).to(device)
                    if augmenter is not None:
                        x_whole = to_input(augmenter(train_u8[batch]), device)
                    else:
                        x_whole = x_train.index_select(0, whole)
                    rows = torch.from_numpy(shard(np.arange(batch.size), dist.rank, dist.world)).to(device)
                    xb = mix(x_whole, mixp).index_select(0, rows).contiguous(memory_format=fmt)
                    y_whole = y_train[whole]
                    yb = y_whole[rows]
                    yb_mix = y_whole[torch.from_numpy(mixp.perm).to(device)][rows]
                elif augmenter is not None:  # augment the whole global batch on every rank: same draws
                    xb_u8 = augmenter(train_u8[batch])
                    mine = shard(np.arange(batch.size), dist.rank, dist.world)
                    xb = to_input(xb_u8[mine], device)
                    yb = y_train[torch.from_numpy(shard(batch, dist.rank, dist.world)).to(device)]
                else:
                    idx = torch.from_numpy(shard(batch, dist.rank, dist.world)).to(device)
                    xb = x_train.index_select(0, idx).contiguous(memory_format=fmt)
                    yb = y_train[idx]
                lr = learning_rate(recipe, step, total_steps)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                    logits = ddp_model(xb)
                losses = F.cross_entropy(
                    logits.float(), yb, label_smoothing=recipe.label_smoothing, reduction="none"
                )
                y_counted = yb
                if mixp is not None:
                    losses = mixp.lam * losses + (1.0 - mixp.lam) * F.cross_entropy(
                        logits.float(), yb_mix, label_smoothing=recipe.label_smoothing, reduction="none"
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
                    kept = f"epoch {epoch - 1}" if epoch > 1 else "nothing (no epoch finished)"
                    raise TrainingStopped(
                        f"the loss became {step_loss} at epoch {epoch}, step {s + 1}; lower the learning "
                        f"rate (kept the checkpoints of {kept})"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if averaged is not None:
                    with torch.no_grad():
                        for w_avg, w in zip(averaged.parameters(), model.parameters(), strict=True):
                            w_avg.lerp_(w, 1.0 - recipe.ema)
                sums += stats
                if dist.main:
                    cb.on_step(step, step_loss, stats[1].item() / stats[2].item(), int(stats[2].item()))
            train_seconds = time.perf_counter() - t0
            total = sums.tolist()
            train_loss, train_acc = total[0] / total[2], total[1] / total[2]
            val_loss = val_acc = None
            improved = True
            if x_val is not None:
                val_loss, val_acc = evaluate(
                    averaged if averaged is not None else model, x_val, y_val, recipe.tta_flip
                )
                improved = val_acc > best_acc or (val_acc == best_acc and val_loss < best_loss)
                if improved:
                    best_acc, best_loss, best_epoch = val_acc, val_loss, epoch
            else:
                best_epoch = epoch
            row = {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "lr": lr,
                "seconds": time.perf_counter() - t0,
                "images_per_s": total[2] / train_seconds if train_seconds > 0 else None,
            }
            if dist.main:
                meta = {
                    "epoch": epoch,
                    "best_val_acc": best_acc,
                    "best_val_loss": best_loss,
                    "best_epoch": best_epoch,
                    "rng": _rng_state(shuffle, augmenter, mixer, device),
                }
                ckpt.snapshot(model, optimizer, meta, improved, averaged)
                ckpt.maybe_write(force=epoch in (start_epoch, recipe.epochs))
                run.append_metrics(row)
                cb.on_epoch_end(row)
    except KeyboardInterrupt:
        if dist.main:
            ckpt.write()
        raise TrainingStopped("interrupted; kept the checkpoints of the last finished epoch") from None
    except TrainingStopped:
        if dist.main:
            ckpt.write()
        raise
    if dist.main:
        run.update_config(best_epoch=best_epoch)
    return run
