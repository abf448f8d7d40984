"""Checkpoints of the torch backend: ``{"format", "state", "meta"}`` written by ``torch.save``.

``state`` holds tensors, numbers and strings only (``"model"``: the weights; ``last`` also
``"optimizer"``, ``"ema"`` and ``"rng"``), so :func:`load_checkpoint` reads it with
``torch.load(weights_only=True)``: a checkpoint cannot run code. ``meta`` is the fit loop's metadata as
JSON with the SHA-256 of the state and the metadata (:func:`cnnlab.rundir.seal`), verified on every load;
a file that fails any check is one line of :class:`cnnlab.errors.RunDirError`.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from cnnlab.errors import RunDirError
from cnnlab.rundir import atomic_save, seal, unseal

FORMAT = "cnnlab-torch-checkpoint-2"


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write ``state`` and the sealed ``meta`` to ``path`` atomically."""
    payload = {"format": FORMAT, "state": state, "meta": seal(state, meta)}
    atomic_save(path, lambda fh: torch.save(payload, fh))


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(state, meta)`` of a checkpoint written by :func:`save_checkpoint`, checksum verified."""
    if not os.path.isfile(path):
        raise RunDirError(f"{path} does not exist (no checkpoint saved yet?)")
    if os.path.getsize(path) == 0:
        raise RunDirError(f"{path} is empty (a copy that failed?); it is not a checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            why = "it holds Python objects that a safe load refuses (pickled by something other than cnnlab)"
        else:
            why = f"{type(exc).__name__}: {first[:120]}"
        raise RunDirError(f"{path} is not a readable cnnlab checkpoint: {why}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "state" not in payload:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise RunDirError(f"{path}: not a cnnlab torch checkpoint (format {found!r}, expected {FORMAT})")
    meta = unseal(path, payload["state"], str(payload.get("meta", "")))
    return payload["state"], meta
