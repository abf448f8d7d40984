"""Checkpoints of :mod:`cnnlab.nn` models: one ``.npz`` of plain arrays, read with ``allow_pickle=False``.

Keys of the archive:

- ``"{index}.weight"``, ``"{index}.bias"``: the model's parameters (NumPy layouts, see
  :mod:`cnnlab.nn.convert`);
- ``"optimizer.step"``, ``"optimizer.exp_avg.{name}"``...: the optimizer state (``last`` only); the
  trainer keeps the weights' moving average (recipe ``ema``) there too, as ``"optimizer.ema.{name}"``;
- ``"meta"``: a 0-d unicode array holding JSON: the fit loop's metadata (epoch, best so far, metrics
  rows, the data's fingerprint) and ``"checksum"``, the SHA-256 of every array and of the rest of the
  metadata (:func:`cnnlab.rundir.seal`), verified by :func:`load_checkpoint`.

No object arrays and no pickle, so loading a checkpoint cannot run code. Writes are atomic
(:func:`cnnlab.rundir.atomic_save`): a crash never leaves a half-written file under the final name.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from cnnlab.errors import RunDirError
from cnnlab.rundir import atomic_save, seal, unseal

FORMAT = "cnnlab-numpy-checkpoint-2"
_OPT = "optimizer."


def save_checkpoint(
    path: str | os.PathLike,
    params: dict[str, np.ndarray],
    meta: dict[str, Any],
    optimizer_state: dict[str, np.ndarray] | None = None,
) -> None:
    """Write ``params`` (+ ``optimizer_state`` + JSON ``meta``) to ``path`` atomically."""
    arrays: dict[str, np.ndarray] = {k: np.asarray(v) for k, v in params.items()}
    for k, v in (optimizer_state or {}).items():
        arrays[_OPT + k] = np.asarray(v)
    arrays["meta"] = np.array(seal(arrays, {**meta, "format_numpy": FORMAT}))
    atomic_save(path, lambda fh: np.savez(fh, **arrays))


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """``(params, optimizer_state, meta)`` from a checkpoint written by :func:`save_checkpoint`.

    Raises :class:`cnnlab.errors.RunDirError` naming the file when it is missing, not such a checkpoint,
    or its checksum does not match its contents.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise RunDirError(f"{path} does not exist (no checkpoint saved yet?)") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise RunDirError(f"{path} is not a readable cnnlab checkpoint: {exc}") from None
    if "meta" not in arrays:
        raise RunDirError(f"{path} is not a cnnlab NumPy checkpoint (no 'meta' entry)")
    text = str(arrays.pop("meta"))
    try:
        fmt = json.loads(text).get("format_numpy")
    except (ValueError, AttributeError) as exc:
        raise RunDirError(f"{path}: unreadable 'meta' entry: {exc}") from None
    if fmt != FORMAT:
        raise RunDirError(f"{path}: unknown checkpoint format {fmt!r} (expected {FORMAT}); train it again")
    meta = unseal(path, arrays, text)
    params = {k: v for k, v in arrays.items() if not k.startswith(_OPT)}
    opt = {k[len(_OPT) :]: v for k, v in arrays.items() if k.startswith(_OPT)}
    return params, opt, meta
