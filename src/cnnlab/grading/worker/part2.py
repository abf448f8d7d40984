"""Part 2 in the sandbox: build the student's ``CNNClassifier``, run it, train it with the lab's recipe.

The grader calls these as helpers (a request with ``"helper": "part2.<name>"``): the first argument is
the student's class, the rest come from the grader. PyTorch is imported here, lazily, so a worker that
grades only NumPy code never loads it (and a sandbox without PyTorch still grades the rest).

Nothing returned here is trusted: the grader checks the logits against its own forward pass with weights
it chose, and scores the test predictions with labels the sandbox never sees.

:func:`train` is the lab's Part 2 recipe exactly as cnnlab's torch engine runs the ``lab`` recipe on the
CPU (``cnnlab.torch_backend.engine``; a test checks that both give the same predictions): seed with
``torch.manual_seed(seed)`` before the model is built, shuffle with ``numpy.random.default_rng((seed,
1))`` each epoch, inputs ``(x / 255 - 0.5) / 0.5`` in float32, batches of ``batch_size``, mean
cross-entropy, Adam (``lr``, fused), constant learning rate; then the test images in eval mode in
batches of 256, argmax of the logits. One difference: the tensors are in PyTorch's default (contiguous
NCHW) layout, not channels-last, because the lab's ``x.view(-1, 64 * 8 * 8)`` fails on a channels-last
tensor; the arithmetic is otherwise the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["forward", "logits", "parameters", "train"]

EVAL_BATCH = 256


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise RuntimeError("PyTorch is not available to the grader's sandbox") from None
    torch.set_num_threads(1)
    # The sandbox allows no threads: a student's set_num_threads(4) would kill the worker at its first
    # parallel operation. PyTorch keeps one thread whatever the student's code asks for.
    torch.set_num_threads = torch.set_num_interop_threads = _one_thread
    return torch


def _one_thread(n: int) -> None:
    """What ``torch.set_num_threads`` is in the sandbox: nothing (it runs with one thread)."""


def _build(cls: Any, ctor: tuple[int, int, int]) -> Any:
    torch = _torch()
    model = cls(*ctor)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"CNNClassifier{tuple(ctor)} is a {type(model).__name__}, not a torch.nn.Module")
    return model


def _output(value: Any, what: str) -> np.ndarray:
    torch = _torch()
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{what} returned a {type(value).__name__}, not a tensor")
    return value.detach().cpu().numpy()


def parameters(cls: Any, ctor: tuple[int, int, int]) -> int:
    """Trainable parameters of ``cls(*ctor)``."""
    model = _build(cls, ctor)
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def logits(cls: Any, ctor: tuple[int, int, int], x: np.ndarray) -> np.ndarray:
    """``cls(*ctor)`` (seed 0, eval mode) on ``x (N, C, H, W)`` float32: what ``forward`` returns."""
    torch = _torch()
    torch.manual_seed(0)
    model = _build(cls, ctor).eval()
    with torch.no_grad():
        return _output(model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))), "forward")


def forward(cls: Any, ctor: tuple[int, int, int], weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """Logits ``(2, N, K)`` of ``cls(*ctor)`` with its parameters set to ``weights``, on ``x (N, C, H, W)``:
    ``[eval mode, train mode]`` (dropout or batch norm make the two differ; the lab's network has none).

    Float64, or float32 when the model does not run in float64 (a ``forward`` that casts its input with
    ``x.float()``): the dtype of the result says which. Each parameter takes the weight of its shape (the
    lab's network has no two of one shape), so the order of the student's layers does not matter.
    """
    try:
        return _forward(cls, ctor, weights, x, np.float64)
    except (RuntimeError, TypeError):
        return _forward(cls, ctor, weights, x, np.float32)


def _forward(
    cls: Any, ctor: tuple[int, int, int], weights: list[np.ndarray], x: np.ndarray, dtype
) -> np.ndarray:
    torch = _torch()
    model = _build(cls, ctor).to(torch.float64 if dtype == np.float64 else torch.float32)
    params = list(model.parameters())
    by_shape = {tuple(w.shape): w for w in weights}
    shapes = sorted(tuple(p.shape) for p in params)
    if len(params) != len(weights) or shapes != sorted(by_shape):
        raise ValueError(
            f"its parameters have shapes {[tuple(p.shape) for p in params]}; the lab's CNNClassifier's are "
            f"{[tuple(w.shape) for w in weights]}"
        )
    inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=dtype))
    out = []
    with torch.no_grad():
        for p in params:
            p.copy_(torch.from_numpy(np.asarray(by_shape[tuple(p.shape)], dtype=dtype)))
        for training in (False, True):
            torch.manual_seed(0)
            out.append(_output(model.train(training)(inputs), "forward"))
    if any(o.shape != out[0].shape for o in out):
        raise ValueError(f"forward returned shapes {[o.shape for o in out]} in eval and train mode")
    return np.stack(out)


def _inputs(torch: Any, images: np.ndarray) -> Any:
    """uint8 ``(N, H, W, C)`` -> ``(x / 255 - 0.5) / 0.5`` float32 ``(N, C, H, W)``, contiguous."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8))
    return x.permute(0, 3, 1, 2).float().div_(255.0).sub_(0.5).div_(0.5).contiguous()


def train(
    cls: Any,
    ctor: tuple[int, int, int],
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
) -> np.ndarray:
    """Train ``cls(*ctor)`` with the lab's recipe (module docstring); predicted labels of ``test_images``."""
    torch = _torch()
    import torch.nn.functional as F

    torch.manual_seed(seed)
    model = _build(cls, ctor)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=0.0, fused=True)
    shuffle = np.random.default_rng((seed, 1))
    x = _inputs(torch, train_images)
    y = torch.from_numpy(np.asarray(train_labels, dtype=np.int64))
    n = int(y.shape[0])
    model.train()
    for _ in range(epochs):
        perm = shuffle.permutation(n)
        for start in range(0, n, batch_size):
            batch = perm[start : start + batch_size]
            idx = torch.from_numpy(batch)
            xb = x.index_select(0, idx)
            out = model(xb)
            if not isinstance(out, torch.Tensor):
                raise TypeError(f"forward returned a {type(out).__name__}, not a tensor")
            loss = F.cross_entropy(out.float(), y[idx], reduction="none").sum() * (1.0 / batch.size)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the training loss is {loss.item()}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    model.eval()
    xt = _inputs(torch, test_images)
    preds = []
    with torch.no_grad():
        for start in range(0, xt.shape[0], EVAL_BATCH):
            preds.append(_output(model(xt[start : start + EVAL_BATCH]), "forward").argmax(axis=1))
    return np.concatenate(preds).astype(np.int64) if preds else np.zeros(0, np.int64)
