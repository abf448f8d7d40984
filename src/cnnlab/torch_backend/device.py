"""Devices and inputs of the torch backend: which device, which memory layout, uint8 NHWC -> NCHW tensors."""

from __future__ import annotations

import os

import numpy as np
import torch

from cnnlab.errors import CnnlabError


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


def cpus() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def default_torch_threads(processes: int = 1) -> int:
    """PyTorch's intra-op threads when ``--threads`` is not given: ``TORCH_DEFAULT_THREADS`` per process.

    See :data:`TORCH_DEFAULT_THREADS` for the measurement behind it; never more than the CPUs divided
    among the processes on this machine.
    """
    return max(1, min(TORCH_DEFAULT_THREADS, cpus() // max(1, processes)))


#: One thread per process. docs/figures.md (``make accuracy``, 2 cores): the lab recipe for 4 epochs took
#: 3.3 s with 1 thread and 2.4 s with 2 on the machine as it was (one other job running), but 4.7 s
#: against 5.3 s beside one busy process per core, and an earlier measurement gave 9.1 s against 17.5 s.
#: Two threads win by ~1.4x on idle cores and lose as soon as the cores are shared (``cnnlab cv``,
#: ``grade --jobs``, torchrun, a second training), so the default does not oversubscribe; ``--threads``
#: takes all cores where they are free.
TORCH_DEFAULT_THREADS = 1
